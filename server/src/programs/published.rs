//! The read-back of the published program-side REST shape (issue 12): an enrollment as the
//! published `GET …/programEnrollments/enroll/{enrollmentId}` answers it — the document as
//! received for one that came in that shape, otherwise built from GridFlex's own record.

use serde_json::{json, Value};

use crate::db::{self, Db};
use crate::error::DomainError;
use crate::integration::wire::published::{read_back as document_read_back, EnrollDocument};

/// GridFlex's ownership in the published codes; `leased` has none.
fn published_ownership(ownership: &str) -> Option<&'static str> {
    match ownership {
        "owned" => Some("W1OW"),
        "utility" => Some("W1CO"),
        _ => None,
    }
}

/// The enrollment in the published shape; `None` for an unknown id.
pub async fn read_back(db: &Db, enrollment_id: i64) -> Result<Option<Value>, DomainError> {
    let Some(e) = db::enrollment::get_enrollment(db, enrollment_id).await? else {
        return Ok(None);
    };
    if let Some(row) = db::published::get_published_enrollment(db, enrollment_id).await? {
        let document: EnrollDocument = serde_json::from_str(&row.document).map_err(|err| {
            DomainError::Internal(format!(
                "stored published document of enrollment {enrollment_id}: {err}"
            ))
        })?;
        return Ok(Some(document_read_back(
            enrollment_id,
            &e.status,
            &document,
        )));
    }
    let missing =
        |what: &str| DomainError::Internal(format!("{what} of enrollment {enrollment_id}"));
    let customer = db::device::get_customer(db, e.customer_id)
        .await?
        .ok_or_else(|| missing("customer"))?;
    let program = db::program::get_program(db, e.program_id)
        .await?
        .ok_or_else(|| missing("program"))?;
    let location = db::device::get_location(db, e.location_id)
        .await?
        .ok_or_else(|| missing("location"))?;
    let devices = db::enrollment::enrolled_devices(db, enrollment_id).await?;
    let assets: Vec<Value> = devices
        .iter()
        .filter(|d| d.left_at.is_none())
        .enumerate()
        .map(|(i, d)| {
            json!({
                "sequence": (i + 1).to_string(),
                "assetType": d.device_type.replace('_', "").to_uppercase(),
                "nicId": d.nic_id,
                "headEndSystem": d.head_end,
            })
        })
        .collect();
    let blank_none = |v: String| if v.is_empty() { None } else { Some(v) };
    Ok(Some(json!({
        "enrollmentId": enrollment_id,
        "status": e.status,
        "enrollmentSource": e.source,
        "customerInfo": {
            "cisPersonId": customer.person_id,
            "cisAccountId": customer.account_id,
            "name": customer.name,
            "homePhone": blank_none(customer.phone),
            "email": blank_none(customer.email),
        },
        "programInfo": {
            "programCode": program.code,
            "startDateTimeISO": format!("{}T00:00:00", e.start_date),
        },
        "locationInfo": {
            "cisPremiseId": location.premise_id,
            "cisServicePointId": location.service_point_id,
            "timeZone": location.time_zone,
            "address1": location.street,
            "city": location.city,
            "postal": location.postal_code,
        },
        "assetInfo": {
            "assetOwnership": published_ownership(&e.ownership),
            "assetList": assets,
        },
    })))
}
