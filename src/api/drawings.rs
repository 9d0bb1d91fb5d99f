//! Labelled drawings (the draw page's "save as a 7"): a reusable evaluation set of real
//! handwriting, its export (IDX in a tar, or CSV), and the leaderboard of MNIST models on it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::predict::png_digit;
use super::{ApiRouter, AppError, AppJson, AppState};
use crate::data::{Preprocess, encode_idx};
use crate::models::{LeaderboardEntry, MAX_LEADERBOARD_MODELS};
use crate::store::drawings::{DrawingQuery, DrawingRow, NewDrawing};
use utoipa_axum::routes;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .routes(routes!(list_drawings))
        .routes(routes!(export_drawings))
        .routes(routes!(drawings_leaderboard))
        .merge(super::writes(
            ApiRouter::new()
                .routes(routes!(save_drawing))
                .routes(routes!(delete_drawing)),
            super::Body::Json,
        ))
}

/// Drawings one listing returns at most.
const MAX_LIST: i64 = 1000;
const DEFAULT_LIST: i64 = 100;
/// The export's file names: the MNIST layout's, with the set's name.
pub const EXPORT_IMAGES: &str = "drawings-images-idx3-ubyte";
pub const EXPORT_LABELS: &str = "drawings-labels-idx1-ubyte";

/// A drawing to keep, with what it shows.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDrawingRequest {
    /// A PNG of the digit (as for predictions; a `data:` URL prefix is accepted). It is
    /// stored as the 28x28 image MNIST preprocessing makes of it.
    png_base64: String,
    /// The digit it shows, 0..=9.
    label: i64,
}

/// A saved drawing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Drawing {
    pub id: String,
    pub label: i64,
    /// The 28x28 image models see, as 28 rows of values in [0, 1] (multiples of 1/255).
    pub image: Vec<Vec<f32>>,
    pub created_at: String,
}

impl From<DrawingRow> for Drawing {
    fn from(r: DrawingRow) -> Drawing {
        Drawing {
            id: r.id,
            label: r.label,
            image: r
                .pixels
                .chunks(28)
                .map(|row| row.iter().map(|&v| v as f32 / 255.0).collect())
                .collect(),
            created_at: r.created_at,
        }
    }
}

/// Save a labelled drawing.
#[utoipa::path(post, path = "/api/v1/drawings", tag = "drawings",
    request_body = NewDrawingRequest,
    responses(
        (status = 201, description = "Saved", body = Drawing,
            headers(("Location" = String, description = "`/api/v1/drawings/{id}`"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "`--max-drawings` are saved already", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A label outside 0..=9, or an empty, blank or undecodable drawing \
            (`field` names it)", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn save_drawing(
    State(state): State<AppState>,
    AppJson(req): AppJson<NewDrawingRequest>,
) -> Result<Response, AppError> {
    if !(0..=9).contains(&req.label) {
        return Err(AppError::invalid("label", "must be a digit, 0..=9"));
    }
    if req.png_base64.trim().is_empty() {
        return Err(AppError::invalid("png_base64", "is empty: draw a digit first"));
    }
    let max = state.config.limits.max_drawings as i64;
    // Checked before the decoding work, and again atomically at the insert.
    if state.store.count_drawings().await? >= max {
        return Err(full(max));
    }
    let image = png_digit(&state, req.png_base64, Preprocess::Mnist).await?;
    let pixels: Vec<u8> = image
        .iter()
        .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
        .collect();
    let id = uuid::Uuid::now_v7().to_string();
    let row = state
        .store
        .insert_drawing_if_room(
            &NewDrawing {
                id: &id,
                label: req.label,
                pixels: &pixels,
            },
            max,
        )
        .await?
        .ok_or_else(|| full(max))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/drawings/{id}"))],
        Json(Drawing::from(row)),
    )
        .into_response())
}

fn full(max: i64) -> AppError {
    AppError::Conflict(format!(
        "{max} drawings are saved, the most this server keeps (--max-drawings): delete some first"
    ))
}

/// `GET /api/v1/drawings`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DrawingList {
    pub drawings: Vec<Drawing>,
    /// Drawings saved in all (of any label).
    pub total: i64,
}

/// The saved drawings, oldest first (or newest first).
#[utoipa::path(get, path = "/api/v1/drawings", tag = "drawings",
    params(
        ("label" = Option<i64>, Query, description = "Only drawings of this digit"),
        ("limit" = Option<i64>, Query, description = "At most this many, 1..=1000 (default 100)"),
        ("order" = Option<String>, Query, description = "`oldest` (default) or `newest` first"),
    ),
    responses(
        (status = 200, description = "The drawings", body = DrawingList),
        (status = 422, description = "A bad `label`, `limit` or `order`", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn list_drawings(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<DrawingList>, AppError> {
    let label = match query.get("label") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(l) if (0..=9).contains(&l) => Some(l),
            _ => return Err(AppError::invalid("label", "a digit, 0..=9")),
        },
    };
    let limit = match query.get("limit") {
        None => DEFAULT_LIST,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=MAX_LIST).contains(&n) => n,
            _ => return Err(AppError::invalid("limit", format!("an integer in 1..={MAX_LIST}"))),
        },
    };
    let newest_first = match query.get("order").map(String::as_str) {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(_) => return Err(AppError::invalid("order", "oldest or newest")),
    };
    let rows = state
        .store
        .drawings(DrawingQuery {
            label,
            limit,
            newest_first,
        })
        .await?;
    Ok(Json(DrawingList {
        drawings: rows.into_iter().map(Drawing::from).collect(),
        total: state.store.count_drawings().await?,
    }))
}

/// Delete a drawing.
#[utoipa::path(delete, path = "/api/v1/drawings/{id}", tag = "drawings",
    params(("id" = String, Path, description = "Drawing id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such drawing", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn delete_drawing(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if !state.store.delete_drawing(&id).await? {
        return Err(AppError::not_found("drawing", &id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Every saved drawing as a dataset file: `format=idx` (default) is a tar holding
/// `drawings-images-idx3-ubyte` ([N, 28, 28] bytes) and `drawings-labels-idx1-ubyte`, the
/// layout of MNIST's files, uncompressed; `format=csv` has a header and one row per drawing,
/// `label,p0..p783` with pixels 0..=255.
#[utoipa::path(get, path = "/api/v1/drawings/export", tag = "drawings",
    params(("format" = Option<String>, Query, description = "`idx` (default) or `csv`")),
    responses(
        (status = 200, description = "The file", body = Vec<u8>, content_type = "application/x-tar",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"drawings.tar\"` (or `.csv`)"))),
        (status = 422, description = "An unknown `format`", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ))]
pub(crate) async fn export_drawings(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let format = query.get("format").map_or("idx", String::as_str);
    if format != "idx" && format != "csv" {
        return Err(AppError::invalid("format", "idx or csv"));
    }
    let rows = state
        .store
        .drawings(DrawingQuery {
            label: None,
            limit: state.config.limits.max_drawings as i64,
            newest_first: false,
        })
        .await?;
    let (content_type, name, bytes) = if format == "csv" {
        ("text/csv; charset=utf-8", "drawings.csv", csv(&rows).into_bytes())
    } else {
        (
            "application/x-tar",
            "drawings.tar",
            idx_tar(&rows).map_err(anyhow::Error::from)?,
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}

fn csv(rows: &[DrawingRow]) -> String {
    use std::fmt::Write;
    let mut out = String::from("label");
    (0..784).for_each(|i| write!(out, ",p{i}").expect("writing to a String"));
    out.push('\n');
    for r in rows {
        write!(out, "{}", r.label).expect("writing to a String");
        r.pixels
            .iter()
            .for_each(|p| write!(out, ",{p}").expect("writing to a String"));
        out.push('\n');
    }
    out
}

fn idx_tar(rows: &[DrawingRow]) -> std::io::Result<Vec<u8>> {
    let n = rows.len() as u32;
    let pixels: Vec<u8> = rows.iter().flat_map(|r| r.pixels.iter().copied()).collect();
    let labels: Vec<u8> = rows.iter().map(|r| r.label as u8).collect();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        (EXPORT_IMAGES, encode_idx(0x08, &[n, 28, 28], &pixels)),
        (EXPORT_LABELS, encode_idx(0x08, &[n], &labels)),
    ] {
        let mut head = tar::Header::new_ustar();
        head.set_size(bytes.len() as u64);
        head.set_mode(0o644);
        head.set_mtime(0);
        tar.append_data(&mut head, name, bytes.as_slice())?;
    }
    tar.into_inner()
}

/// `GET /api/v1/drawings/leaderboard`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Leaderboard {
    /// Drawings the models were scored on.
    pub drawings: usize,
    /// The newest MNIST models (at most `max_models`), best on the drawings first.
    pub models: Vec<LeaderboardEntry>,
    pub max_models: usize,
}

/// MNIST models ranked by accuracy on the saved drawings, beside their test accuracy: the
/// gap between MNIST and real drawings.
#[utoipa::path(get, path = "/api/v1/drawings/leaderboard", tag = "drawings",
    responses(
        (status = 200, description = "The ranking", body = Leaderboard),
        (status = 500, description = "Internal error", body = ErrorBody),
        (status = 503, description = "Too many heavy requests at once", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub(crate) async fn drawings_leaderboard(State(state): State<AppState>) -> Result<Json<Leaderboard>, AppError> {
    let (drawings, models) = state.models.drawings_leaderboard().await?;
    Ok(Json(Leaderboard {
        drawings,
        models,
        max_models: MAX_LEADERBOARD_MODELS,
    }))
}
