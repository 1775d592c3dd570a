//! Wire codes: the closed sets of strings a flow's fields take (`X1BY`, `D1SP`, ...).

/// A closed set of wire codes: serde to and from the exact wire strings, `as_str`, `parse`, `ALL`.
macro_rules! wire_code {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $code)] $variant, )+
        }

        impl $name {
            /// Every code, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The value of a wire code; `None` for an unknown one.
            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Every code, comma-separated, for error messages.
            pub fn codes() -> String {
                Self::ALL.iter().map(|code| code.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        // By hand rather than derived: a code is a JSON string and nothing else, so
        // `{"X1EM": null}` (serde's externally tagged form) is refused like any other non-string.
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
            where
                D: ::serde::Deserializer<'de>,
            {
                struct CodeVisitor;

                impl ::serde::de::Visitor<'_> for CodeVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("enum ", stringify!($name)))
                    }

                    fn visit_str<E: ::serde::de::Error>(self, code: &str) -> Result<$name, E> {
                        $name::parse(code)
                            .ok_or_else(|| E::unknown_variant(code, &[$($code),+]))
                    }
                }

                deserializer.deserialize_str(CodeVisitor)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(super) use wire_code;

#[cfg(test)]
mod tests {
    use crate::integration::wire::*;
    use serde_json::json;

    #[test]
    fn codes_serialize_to_their_exact_wire_strings() {
        assert_eq!(
            serde_json::to_value(OutcomeCode::InFlightOverride).unwrap(),
            json!("D1IO")
        );
        assert_eq!(
            serde_json::to_value(LifecycleAction::Cancel).unwrap(),
            json!("F1CN")
        );
        assert_eq!(
            serde_json::to_value(EventCategory::Reliability).unwrap(),
            json!("X1RE")
        );
        assert_eq!(
            serde_json::to_value(EnrollmentSource::ContactCentre).unwrap(),
            json!("X1CC")
        );
        assert_eq!(
            serde_json::to_value(DeviceType::EvCharger).unwrap(),
            json!("ev_charger")
        );
        for code in OutcomeCode::ALL {
            assert_eq!(OutcomeCode::parse(code.as_str()), Some(*code));
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
        assert_eq!(LifecycleAction::parse("f1cn"), None);
    }

    #[test]
    fn every_coded_field_has_its_meaning_in_the_console() {
        let codes = OutcomeCode::ALL
            .iter()
            .map(|c| c.as_str())
            .chain(EnrollmentSource::ALL.iter().map(|c| c.as_str()))
            .chain(EventCategory::ALL.iter().map(|c| c.as_str()))
            .chain(LifecycleAction::ALL.iter().map(|c| c.as_str()));
        for code in codes {
            assert!(
                app::history::code_meaning(code).is_some(),
                "{code} has no meaning in app::history::code_meaning"
            );
        }
    }
}
