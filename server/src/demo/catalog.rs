//! What the synthetic utility is made of: its substations, its four programs and their rules,
//! the device kinds with their head-ends, and the names and streets its customers are drawn from.

pub(super) const SUBSTATIONS: [(&str, &str, &str); 3] = [
    ("SUB-NORTH", "Northgate substation", "Northgate"),
    ("SUB-RIVER", "Riverside substation", "Riverside"),
    ("SUB-HARBOR", "Harbor substation", "Harbor City"),
];
pub(super) const FEEDERS_PER_SUBSTATION: usize = 4;
pub(super) const LOCATIONS_PER_TRANSFORMER: usize = 8;

pub(super) struct ProgramSpec {
    pub(super) code: &'static str,
    pub(super) name: &'static str,
    pub(super) category: &'static str,
    pub(super) device_type: &'static str,
    pub(super) settlement: &'static str,
    pub(super) timing: &'static str,
    pub(super) baseline: &'static str,
    pub(super) rate: f64,
    pub(super) opt_out: bool,
}

pub(super) const PROGRAMS: [ProgramSpec; 4] = [
    ProgramSpec {
        code: "SMT-BYOD",
        name: "Summer Thermostat Rewards (BYOD)",
        category: "Residential HVAC",
        device_type: "thermostat",
        settlement: "consumption",
        timing: "per_event",
        baseline: "10in10",
        rate: 0.25,
        opt_out: true,
    },
    ProgramSpec {
        code: "EV-MANAGED",
        name: "Managed EV Charging",
        category: "Residential EV",
        device_type: "ev_charger",
        settlement: "consumption",
        timing: "per_event",
        baseline: "high5of10",
        rate: 0.18,
        opt_out: true,
    },
    ProgramSpec {
        code: "BATT-VPP",
        name: "Home Battery Virtual Power Plant",
        category: "Residential storage",
        device_type: "battery",
        settlement: "demand",
        timing: "end_of_season",
        baseline: "10in10",
        rate: 8.50,
        opt_out: false,
    },
    ProgramSpec {
        code: "WH-CONTROL",
        name: "Water Heater Load Control",
        category: "Residential water heating",
        device_type: "water_heater",
        settlement: "demand",
        timing: "end_of_season",
        baseline: "10in10",
        rate: 4.00,
        opt_out: true,
    },
];

pub(super) struct DeviceKind {
    pub(super) device_type: &'static str,
    pub(super) program: usize,
    pub(super) weight: u32,
    pub(super) head_ends: &'static [(&'static str, &'static str)],
    pub(super) kw: (f64, f64),
}

pub(super) const KINDS: [DeviceKind; 4] = [
    DeviceKind {
        device_type: "thermostat",
        program: 0,
        weight: 45,
        head_ends: &[
            ("ECOBEE", "ecobee3 lite"),
            ("NEST", "Nest Learning Thermostat 3"),
            ("HONEYWELL", "Honeywell T6 Pro"),
        ],
        kw: (1.2, 3.5),
    },
    DeviceKind {
        device_type: "ev_charger",
        program: 1,
        weight: 20,
        head_ends: &[
            ("CHARGEPOINT", "ChargePoint Home Flex 48A"),
            ("ENELX", "JuiceBox 40"),
        ],
        kw: (6.6, 11.5),
    },
    DeviceKind {
        device_type: "battery",
        program: 2,
        weight: 15,
        head_ends: &[("TESLA", "Powerwall 2"), ("ENPHASE", "IQ Battery 10T")],
        kw: (3.8, 7.6),
    },
    DeviceKind {
        device_type: "water_heater",
        program: 3,
        weight: 20,
        head_ends: &[
            ("RHEEM", "ProTerra 50 gal"),
            ("AOSMITH", "Signature 40 gal"),
        ],
        kw: (3.8, 5.5),
    },
];

pub(super) const FIRST: [&str; 24] = [
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jamal", "Kira",
    "Liam", "Mona", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wen", "Yara",
];
pub(super) const LAST: [&str; 24] = [
    "Smith",
    "Okafor",
    "Nguyen",
    "Garcia",
    "Muller",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Johansson",
    "Silva",
    "Brown",
    "Patel",
    "Dubois",
    "Novak",
    "Kim",
    "Cohen",
    "Ivanova",
    "Moreau",
    "Lopez",
    "Schmidt",
    "Ahmed",
    "Walker",
    "Costa",
];
pub(super) const STREETS: [&str; 12] = [
    "Oak St",
    "Maple Ave",
    "Cedar Ln",
    "Pine Rd",
    "Elm St",
    "Birch Way",
    "Willow Dr",
    "Aspen Ct",
    "Spruce St",
    "Hickory Ln",
    "Juniper Rd",
    "Laurel Ave",
];
