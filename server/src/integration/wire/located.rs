//! A `serde::Deserializer` over `serde_json::Value` that remembers where it is, so a type or code
//! error deep inside a message names its field (`records[3].assetInfo.assetList[0].nominalKw`).

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

#[derive(Debug)]
pub(super) struct Error {
    path: Option<String>,
    message: String,
}

impl Error {
    /// Pins an error raised while reading `value` to its path, unless a deeper node already did.
    fn at(mut self, path: &str, value: &Value) -> Self {
        if self.path.is_none() {
            if let Value::String(text) = value {
                // chrono's parse errors do not repeat the input; a person needs to see it.
                if !self.message.contains(text.as_str()) {
                    self.message = format!("{} (got `{text}`)", self.message);
                }
            }
            self.path = Some(path.to_owned());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            path: None,
            message: msg.to_string(),
        }
    }
}

/// Returns `(path, message)` on failure; the path is empty for the root.
pub(super) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, (String, String)> {
    T::deserialize(Node {
        value,
        path: String::new(),
    })
    .map_err(|err| {
        let err = err.at("", value);
        (err.path.unwrap_or_default(), err.message)
    })
}

struct Node<'a> {
    value: &'a Value,
    path: String,
}

impl<'de> de::Deserializer<'de> for Node<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let Node { value, path } = self;
        match value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(f) = n.as_f64() {
                    visitor.visit_f64(f)
                } else {
                    Err(de::Error::custom(format!("number {n} is out of range")))
                }
            }
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(Elements {
                items: items.iter().enumerate(),
                path: &path,
            }),
            Value::Object(map) => visitor.visit_map(Entries {
                entries: map.iter(),
                pending: None,
                path: &path,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::String(code) => {
                visitor.visit_enum(IntoDeserializer::<Error>::into_deserializer(code.as_str()))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

struct Elements<'a, 'p> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    path: &'p str,
}

impl<'de> SeqAccess<'de> for Elements<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((index, value)) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{index}]", self.path);
        seed.deserialize(Node {
            value,
            path: path.clone(),
        })
        .map(Some)
        .map_err(|err| err.at(&path, value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'a, 'p> {
    entries: serde_json::map::Iter<'a>,
    pending: Option<(&'a str, &'a Value)>,
    path: &'p str,
}

impl<'de> MapAccess<'de> for Entries<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key.as_str(), value));
        seed.deserialize(IntoDeserializer::<Error>::into_deserializer(key.as_str()))
            .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("a value was read before its key"))?;
        let path = super::check::join(self.path, key);
        seed.deserialize(Node {
            value,
            path: path.clone(),
        })
        .map_err(|err| err.at(&path, value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}
