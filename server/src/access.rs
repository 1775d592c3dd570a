//! The role policy on the server: refusing what a viewer's role may not do (in the policy's
//! words, `app::access::POLICY`) and masking personal data for roles that may not see it.

use app::access::{may, Action};
use app::model::Viewer;

use crate::error::DomainError;

/// How personal data looks to a role that may not see it.
pub const MASK: &str = "••••••";

/// Refuses (`Forbidden`, in the policy's words) unless the viewer's role may do `action`.
pub fn require(viewer: &Viewer, action: Action) -> Result<(), DomainError> {
    if may(viewer.role, action) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(action.what().to_string()))
    }
}

pub fn mask_for(viewer: &Viewer, value: String) -> String {
    if viewer.role.sees_personal_data() {
        value
    } else {
        MASK.to_string()
    }
}

/// Keys whose values are personal data in the wire formats (GridFlex's own and the
/// published shape's).
const PERSONAL_KEYS: [&str; 7] = [
    "phone",
    "email",
    "street",
    "address",
    "homePhone",
    "businessPhone",
    "address1",
];

/// Replaces personal data anywhere in a message with the mask.
pub fn mask_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if PERSONAL_KEYS.contains(&k.as_str()) && !val.is_null() {
                    *val = serde_json::Value::String(MASK.to_string());
                } else {
                    mask_json(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_in_the_published_shape_is_masked_too() {
        let mut message = serde_json::json!({"records": [{"publishedInfo": {"businessPhone": "+1 555 010 3000",
            "document": {"customerInfo": {"homePhone": "+1 555 010 2000", "email": "g@example.com"},
                         "locationInfo": {"address1": "12 Lake Shore Dr", "city": "Riverside"}}}}]});
        mask_json(&mut message);
        let text = message.to_string();
        for hidden in [
            "555 010 3000",
            "555 010 2000",
            "g@example.com",
            "Lake Shore",
        ] {
            assert!(!text.contains(hidden), "{hidden} is masked: {text}");
        }
        assert!(text.contains("Riverside"), "{text}");
    }
}
