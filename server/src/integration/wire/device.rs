//! What several flows say about a device: its type, its key `(headEndSystem, nicId)` and its kW.

use serde::{Deserialize, Serialize};

use super::check::{check_id, item, join, Seen};
use super::code::wire_code;
use super::RecordError;

/// Largest controllable or expected kW of one device; anything above is a unit mistake (W, MW).
pub const MAX_DEVICE_KW: f64 = 1000.0;

wire_code! {
    /// Kind of controllable device.
    pub enum DeviceType {
        Thermostat = "thermostat",
        EvCharger = "ev_charger",
        Battery = "battery",
        WaterHeater = "water_heater",
        PoolPump = "pool_pump",
        SmartInverter = "smart_inverter",
    }
}

/// A device named by its key only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceKey {
    pub head_end_system: String,
    pub nic_id: String,
}

/// Head-ends disagree on the case of NIC ids; upper case is the stored form.
pub(super) fn check_nic_id(field: &str, value: &str) -> Result<String, RecordError> {
    check_id(field, value).map(|nic_id| nic_id.to_uppercase())
}

/// The device key `(headEndSystem, nicId)` in stored form.
pub(super) fn check_device_key(
    prefix: &str,
    head_end_system: &str,
    nic_id: &str,
) -> Result<(String, String), RecordError> {
    Ok((
        check_id(&join(prefix, "headEndSystem"), head_end_system)?,
        check_nic_id(&join(prefix, "nicId"), nic_id)?,
    ))
}

/// The key used to spot the same device twice, even when one copy is malformed.
pub(super) fn device_key(head_end_system: &str, nic_id: &str) -> (String, String) {
    (
        head_end_system.trim().to_owned(),
        nic_id.trim().to_uppercase(),
    )
}

pub(super) fn check_nominal_kw(field: &str, kw: f64) -> Result<f64, RecordError> {
    if kw.is_finite() && kw > 0.0 && kw <= MAX_DEVICE_KW {
        Ok(kw)
    } else {
        Err(RecordError::new(
            field,
            format!("must be greater than 0 and at most {MAX_DEVICE_KW} kW (got {kw})"),
        ))
    }
}

/// An expected reduction may be 0 (the device is reserved but not counted on).
pub(super) fn check_expected_kw(field: &str, kw: f64) -> Result<f64, RecordError> {
    if kw.is_finite() && (0.0..=MAX_DEVICE_KW).contains(&kw) {
        Ok(kw)
    } else {
        Err(RecordError::new(
            field,
            format!("must be between 0 and {MAX_DEVICE_KW} kW (got {kw})"),
        ))
    }
}

/// Every device listed once, each with a valid key.
pub(super) fn check_device_keys<'a>(
    list: &str,
    keys: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), RecordError> {
    let mut seen = Seen::new();
    for (index, (head_end_system, nic_id)) in keys.enumerate() {
        let prefix = item(list, index);
        let key = check_device_key(&prefix, head_end_system, nic_id)?;
        let what = format!("device {} {}", key.0, key.1);
        seen.check(key, index, list, join(&prefix, "nicId"), &what)?;
    }
    Ok(())
}
