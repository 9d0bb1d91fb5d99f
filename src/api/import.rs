//! Importing a model trained elsewhere: `POST /api/v1/models` with a multipart body of a
//! `spec` part (the architecture, JSON) and a `weights` part (safetensors with PyTorch's
//! `nn.Linear` names, see `nn::io`). -> 201 with the Model and its `Location`.

use axum::Json;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiRouter;
use super::datasets::{Need, resolve_dataset};
use super::error::{ErrorBody, parse_json};
use super::models::Model;
use super::{AppError, AppState, MAX_BODY_BYTES};
use crate::nn::io::{ModelIoError, from_safetensors_with_spec, to_safetensors};
use crate::nn::{ActivationName, ModelSpec};
use crate::store::models::NewModel;
use crate::train::spec::{JobSpec, MAX_UNITS};
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    super::writes(ApiRouter::new().routes(routes!(import_model)), super::Body::Multipart)
}

/// Widest input an imported model may take (a 1024x1024 grey image).
const MAX_INPUT_SIZE: usize = 1 << 20;

/// The architecture fields of a JobSpec, with the sizes given directly or by a dataset.
///
/// Give `dataset`, or `input_size` and `classes` (with a dataset, sizes given must agree with
/// it). Limits and omitted values are those of a JobSpec.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportSpec {
    dataset: Option<String>,
    input_size: Option<usize>,
    classes: Option<usize>,
    hidden_layers: Vec<usize>,
    activation: ActivationName,
    activation_alpha: Option<f32>,
    maxout_pieces: Option<usize>,
    #[serde(default)]
    batch_norm: bool,
    dropout: Option<f32>,
}

/// The multipart/form-data body of an import (documentation only: the handler reads the
/// parts itself).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ImportForm {
    /// The architecture, as JSON.
    spec: ImportSpec,
    /// A safetensors file with PyTorch `nn.Linear` names: `dense.{i}.weight` [out, in],
    /// `dense.{i}.bias` [out]; with batch norm `bn.{i}.weight`, `bn.{i}.bias`,
    /// `bn.{i}.running_mean`, `bn.{i}.running_var`.
    #[schema(value_type = String, format = Binary)]
    weights: Vec<u8>,
}

/// Import a model trained elsewhere.
///
/// A multipart body of a `spec` part (JSON) and a `weights` part (safetensors). A missing
/// tensor or a shape mismatch is a 422 naming the tensor.
#[utoipa::path(post, path = "/api/v1/models", tag = "models",
    request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Imported", body = Model,
            headers(("Location" = String, description = "`/api/v1/models/{id}`"))),
        (status = 400, description = "The spec part is not JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Not multipart, a part missing or unknown, a bad spec field, or weights \
            that do not fit the spec (`field` names the tensor)", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn import_model(
    State(state): State<AppState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, AppError> {
    let mut multipart = multipart.map_err(|e| AppError::Invalid {
        field: None,
        message: format!("expected a multipart/form-data body with parts spec and weights: {e}"),
    })?;
    let (mut spec_part, mut weights_part) = (None, None);
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        let slot = match name.as_str() {
            "spec" => &mut spec_part,
            "weights" => &mut weights_part,
            _ => {
                return Err(AppError::invalid(
                    name.clone(),
                    format!("unknown part {name:?}: the parts are spec and weights"),
                ));
            }
        };
        if slot.is_some() {
            return Err(AppError::invalid(name, "given twice"));
        }
        *slot = Some(field.bytes().await.map_err(multipart_error)?);
    }
    let spec_bytes = spec_part.ok_or_else(|| AppError::invalid("spec", "the spec part (JSON) is missing"))?;
    let weights = weights_part.ok_or_else(|| AppError::invalid("weights", "the weights part is missing"))?;
    let import: ImportSpec = parse_json(&spec_bytes)?;
    let dataset = import.dataset.clone().unwrap_or_else(|| "custom".to_string());
    let spec = model_spec(&state, import).await?;

    let net = tokio::task::spawn_blocking(move || from_safetensors_with_spec(&spec, &weights))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(weights_error)?;
    // Re-serialised so that the stored file carries the architecture in its metadata.
    let stored = to_safetensors(&net);
    let spec_json = serde_json::to_string(&net.spec).map_err(anyhow::Error::from)?;
    let id = uuid::Uuid::now_v7().to_string();
    state
        .store
        .insert_model(&NewModel {
            id: &id,
            job_id: None,
            dataset: &dataset,
            spec_json: &spec_json,
            job_spec_json: None,
            weights: &stored,
            parameters: net.spec.parameter_count() as i64,
            test_accuracy: None,
            test_loss: None,
        })
        .await?;
    let row = state
        .store
        .model(&id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("imported model {id} is not stored")))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/models/{id}"))],
        Json(Model::from(row)),
    )
        .into_response())
}

/// Checks the architecture as a JobSpec's (same limits, same field names) and sizes it.
async fn model_spec(state: &AppState, import: ImportSpec) -> Result<ModelSpec, AppError> {
    let (input_size, classes) = sizes(state, &import).await?;
    let defaults = JobSpec::default();
    let job = JobSpec {
        dataset: import.dataset.unwrap_or_else(|| "custom".to_string()),
        hidden_layers: import.hidden_layers,
        activation: import.activation,
        activation_alpha: import.activation_alpha,
        maxout_pieces: import.maxout_pieces.unwrap_or(defaults.maxout_pieces),
        batch_norm: import.batch_norm,
        dropout: import.dropout.unwrap_or(defaults.dropout),
        ..defaults
    };
    job.validate().map_err(|e| AppError::invalid(e.field, e.message))?;
    let spec = job.model_spec(input_size, classes);
    // The weights part fits in the body, so a network with more f32 parameters than that
    // cannot be complete; refusing it here also bounds what building the network allocates.
    if spec.parameter_count() > MAX_BODY_BYTES / 4 {
        return Err(AppError::invalid(
            "hidden_layers",
            format!(
                "{} parameters do not fit in a {} MiB upload",
                spec.parameter_count(),
                MAX_BODY_BYTES >> 20
            ),
        ));
    }
    Ok(spec)
}

/// Input size and classes: from the dataset when one is named (explicit sizes must then
/// agree with it), else both given.
async fn sizes(state: &AppState, import: &ImportSpec) -> Result<(usize, usize), AppError> {
    let (input_size, classes) = match &import.dataset {
        Some(name) => {
            let info = resolve_dataset(state, name, Need::Shapes).await?;
            let input_size = info.input_shape.iter().product::<usize>();
            for (field, given, expected) in [
                ("input_size", import.input_size, input_size),
                ("classes", import.classes, info.classes),
            ] {
                if given.is_some_and(|g| g != expected) {
                    return Err(AppError::invalid(
                        field,
                        format!("dataset {name} has {field} {expected}; omit it or give that"),
                    ));
                }
            }
            (input_size, info.classes)
        }
        None => (
            import
                .input_size
                .ok_or_else(|| AppError::invalid("input_size", "give dataset, or input_size and classes"))?,
            import
                .classes
                .ok_or_else(|| AppError::invalid("classes", "give dataset, or input_size and classes"))?,
        ),
    };
    if !(1..=MAX_INPUT_SIZE).contains(&input_size) {
        return Err(AppError::invalid("input_size", format!("must be 1..={MAX_INPUT_SIZE}")));
    }
    if !(2..=MAX_UNITS).contains(&classes) {
        return Err(AppError::invalid("classes", format!("must be 2..={MAX_UNITS}")));
    }
    Ok((input_size, classes))
}

/// A tensor at fault is named as the field; anything else is the weights part's fault.
fn weights_error(e: ModelIoError) -> AppError {
    let field = e.tensor().unwrap_or("weights").to_string();
    AppError::invalid(field, e.to_string())
}

fn multipart_error(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge("request body too large".into())
    } else {
        AppError::Invalid {
            field: None,
            message: format!("malformed multipart body: {}", e.body_text()),
        }
    }
}
