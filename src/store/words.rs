//! Enums stored as a word in a TEXT column (job status, job kind, ...): one macro gives each
//! its list, its words, serde, `Display` and the sqlx traits, so SQL binds the enum and no
//! word is typed twice.
//!
//! TEXT rather than a PostgreSQL enum type: sqlx's derive would name a custom type, which
//! SQLite lacks, and a new word would then need a migration on one backend only.

/// `stored_words! { pub enum Name ("what it is") { Variant => "word", ... } }`. Each word is
/// its variant's name in snake_case: serde and the OpenAPI schema (`rename_all`) spell it
/// that way, and each enum's tests check that they agree with `as_str`.
macro_rules! stored_words {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $word:literal ),+ $(,)?
        }
    ) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word used in JSON, SQL and metrics labels.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            pub fn parse(word: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == word)
            }

            /// The words, for messages that list what is accepted.
            pub fn words() -> Vec<&'static str> {
                $name::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                self.as_str().to_string().encode_by_ref(buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let word = <&str as sqlx::Decode<DB>>::decode(value)?;
                $name::parse(word).ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), word).into())
            }
        }
    };
}
pub(crate) use stored_words;

#[cfg(test)]
mod tests {
    use crate::jobs::{JobKind, JobStatus};
    use crate::store::jobs::ForkRole;
    use crate::store::sweeps::{DecisionAction, SweepStatus};

    /// serde (and so the OpenAPI schema, from the same `rename_all`) spells each value as
    /// its stored word, and every word reads back as its value.
    fn agrees<T>(all: &[T], parse: fn(&str) -> Option<T>, word: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        for &v in all {
            assert_eq!(serde_json::to_value(v).unwrap(), word(v), "{v:?}");
            assert_eq!(serde_json::from_value::<T>(word(v).into()).unwrap(), v);
            assert_eq!(parse(word(v)), Some(v));
        }
        assert_eq!(parse("no such word"), None);
    }

    #[test]
    fn every_stored_word_is_its_serde_spelling_and_reads_back() {
        agrees(JobStatus::ALL, JobStatus::parse, JobStatus::as_str);
        agrees(JobKind::ALL, JobKind::parse, JobKind::as_str);
        agrees(SweepStatus::ALL, SweepStatus::parse, SweepStatus::as_str);
        agrees(DecisionAction::ALL, DecisionAction::parse, DecisionAction::as_str);
        agrees(ForkRole::ALL, ForkRole::parse, ForkRole::as_str);
    }
}
