//! The meter data page's file upload: a multipart form (the file, its format, the ESPI
//! service point, the CSRF field) imported through the same path as the paste box, with a
//! size limit and errors shown on the page. The CSRF check runs in the console middleware,
//! which reads multipart forms up to [`MAX_FORM_BYTES`].

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use app::model::{Flash, Viewer, SESSION_FLASH};
use app::port::MeterDataPort;
use app::AppError;

use crate::web::AppState;

/// Where the upload form posts.
pub const UPLOAD_PATH: &str = "/meter-data/upload";
/// The largest file the form takes (larger ones go to `POST /api/v1/meter-data` in parts).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// The whole form: the file and room for the other fields.
pub const MAX_FORM_BYTES: usize = MAX_FILE_BYTES + 64 * 1024;
/// Past this an upload is cut off (413) instead of read to its end for a message.
pub const HARD_CAP_BYTES: usize = 64 * 1024 * 1024;
const PAGE: &str = "/meter-data";

/// The request body limit of every route but the upload: `limit` bytes (a larger body is a
/// 413 before it is read); the upload's is [`HARD_CAP_BYTES`], so a file that is too large
/// is read to its end and answered with a message the person can act on.
pub async fn body_limit(req: Request, next: Next, limit: usize) -> Response {
    let limit = if req.uri().path() == UPLOAD_PATH {
        HARD_CAP_BYTES
    } else {
        limit
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
    }
    let req = req.map(|b| Body::new(http_body_util::Limited::new(b, limit)));
    next.run(req).await
}

/// Tells the person on the meter data page, and sends them back there.
pub async fn to_page(session: &Session, is_error: bool, message: String, to: &str) -> Response {
    if let Err(e) = session
        .insert(SESSION_FLASH, Flash { is_error, message })
        .await
    {
        tracing::error!(error = %e, "cannot store the message of an upload");
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// The message for a form larger than the limit.
pub fn too_large_message() -> String {
    format!(
        "The file is larger than the {} MB an upload takes. Split it into smaller files, or send it to POST /api/v1/meter-data.",
        MAX_FILE_BYTES / (1024 * 1024)
    )
}

/// A multipart form read from a body already in memory (the console middleware read it).
pub fn multipart_form(
    headers: &axum::http::HeaderMap,
    bytes: axum::body::Bytes,
) -> Option<multer::Multipart<'static>> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = multer::parse_boundary(content_type).ok()?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    Some(multer::Multipart::new(stream, boundary))
}

struct Upload {
    file_name: String,
    content: Vec<u8>,
    format: String,
    service_point: String,
}

async fn read_form(mut form: multer::Multipart<'static>) -> Result<Upload, AppError> {
    let bad = |m: String| AppError::BadRequest(m);
    let mut upload = Upload {
        file_name: String::new(),
        content: Vec::new(),
        format: "auto".into(),
        service_point: String::new(),
    };
    let mut has_file = false;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("the upload could not be read: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" => {
                upload.file_name = field.file_name().unwrap_or_default().to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| bad(format!("file: could not be read: {e}")))?;
                if bytes.len() > MAX_FILE_BYTES {
                    return Err(bad(too_large_message()));
                }
                upload.content = bytes.to_vec();
                has_file = true;
            }
            "format" | "service_point" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| bad(format!("{name}: could not be read: {e}")))?;
                if text.chars().count() > 200 {
                    return Err(bad(format!("{name}: at most 200 characters")));
                }
                if name == "format" {
                    upload.format = text.trim().to_string();
                } else {
                    upload.service_point = text.trim().to_string();
                }
            }
            // The CSRF field was checked by the middleware; others are ignored.
            _ => {}
        }
    }
    if !has_file || (upload.content.is_empty() && upload.file_name.is_empty()) {
        return Err(bad("file: choose a meter data file to upload".into()));
    }
    if upload.content.is_empty() {
        return Err(bad(format!("file: `{}` is empty", upload.file_name)));
    }
    if upload.file_name.chars().count() > 200 {
        upload.file_name = upload.file_name.chars().take(200).collect();
    }
    if upload.format.is_empty() || upload.format == "auto" {
        let lower = upload.file_name.to_ascii_lowercase();
        upload.format = if lower.ends_with(".xml") || lower.ends_with(".atom") {
            "espi".into()
        } else {
            "csv".into()
        };
    }
    Ok(upload)
}

/// `POST /meter-data/upload`: imports the file like the paste box does and reports on the
/// meter data page (the import's report, or what was wrong).
pub async fn upload_meter_data(State(state): State<AppState>, req: Request) -> Response {
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "session layer missing").into_response();
    };
    let Some(viewer) = req.extensions().get::<Viewer>().cloned() else {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, "/login?next=%2Fmeter-data")],
        )
            .into_response();
    };
    if !app::access::may(viewer.role, app::access::Action::ImportMeterData) {
        let e = AppError::Forbidden(app::access::Action::ImportMeterData.what().into());
        return to_page(&session, true, e.to_string(), "/home").await;
    }
    let (parts, body) = req.into_parts();
    let form = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => multipart_form(&parts.headers, bytes),
        Err(_) => return to_page(&session, true, too_large_message(), PAGE).await,
    };
    let Some(form) = form else {
        let m = "The upload could not be read: send it as multipart/form-data".to_string();
        return to_page(&session, true, m, PAGE).await;
    };
    let upload = match read_form(form).await {
        Ok(u) => u,
        Err(e) => return to_page(&session, true, e.to_string(), PAGE).await,
    };
    let Ok(text) = String::from_utf8(upload.content) else {
        let m = format!("file: `{}` is not UTF-8 text", upload.file_name);
        return to_page(&session, true, m, PAGE).await;
    };
    let result = state
        .meter_data
        .import_meter_data(
            &viewer,
            &upload.file_name,
            &upload.format,
            &upload.service_point,
            &text,
        )
        .await;
    match result {
        Ok((id, message)) => {
            to_page(&session, false, message, &format!("{PAGE}?import={id}")).await
        }
        Err(AppError::Internal(reference)) => {
            tracing::error!(%reference, "meter data upload failed");
            to_page(
                &session,
                true,
                AppError::Internal(reference).to_string(),
                PAGE,
            )
            .await
        }
        Err(e) => to_page(&session, true, e.to_string(), PAGE).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_message_names_the_size_and_the_way_around() {
        let m = too_large_message();
        assert!(
            m.contains("4 MB") && m.contains("/api/v1/meter-data"),
            "{m}"
        );
    }
}
