//! AsyncAPI 3.0 documents built from the message types.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::codec::KafkaCodec;
use crate::headers;
use crate::message::KafkaMessage;

/// The version of the AsyncAPI Kafka bindings written.
const KAFKA_BINDING_VERSION: &str = "0.5.0";

/// A builder of an [AsyncAPI 3.0.0] document for an application's Kafka
/// topics and messages.
///
/// Each topic is a channel whose address is the topic; each message type is
/// a message under `components/messages`, named after its
/// [`NAME`](KafkaMessage::NAME), with its codec's content type, the headers
/// this crate writes (`content-type`, `ce_type`, `ce_schemaversion`) and
/// its JSON Schema as payload (see [`schema_of`](super::schema_of); the
/// payloads' subschemas are under `components/schemas`). [`send`](Self::send)
/// and [`receive`](Self::receive) add the application's operations.
///
/// ```
/// use kafka_codec::schema::{schemars::JsonSchema, AsyncApi};
/// use kafka_codec::KafkaMessage;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, JsonSchema, KafkaMessage)]
/// #[schemars(crate = "kafka_codec::schema::schemars")]
/// #[kafka(topic = "greetings")]
/// struct Greeting {
///     text: String,
/// }
///
/// let doc = AsyncApi::new("Greeter", "1.0.0")
///     .server("local", "localhost:9092")
///     .send::<Greeting>("greetings")
///     .build();
/// assert_eq!(doc["asyncapi"], "3.0.0");
/// assert_eq!(doc["channels"]["greetings"]["address"], "greetings");
/// assert_eq!(doc["operations"]["send_greetings_Greeting"]["action"], "send");
/// ```
///
/// [AsyncAPI 3.0.0]: https://www.asyncapi.com/docs/reference/specification/v3.0.0
#[derive(Debug)]
pub struct AsyncApi {
    info: Map<String, Value>,
    servers: Map<String, Value>,
    channels: Map<String, Value>,
    operations: Map<String, Value>,
    messages: Map<String, Value>,
    generator: SchemaGenerator,
}

impl AsyncApi {
    /// An empty document for the application `title` at `version`.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        let mut info = Map::new();
        info.insert("title".into(), Value::String(title.into()));
        info.insert("version".into(), Value::String(version.into()));
        let generator = SchemaSettings::draft07()
            .with(|s| {
                s.definitions_path = "#/components/schemas/".into();
                s.meta_schema = None;
            })
            .into_generator();
        AsyncApi {
            info,
            servers: Map::new(),
            channels: Map::new(),
            operations: Map::new(),
            messages: Map::new(),
            generator,
        }
    }

    /// The application's description (CommonMark).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.info
            .insert("description".into(), Value::String(text.into()));
        self
    }

    /// A Kafka broker, `host` as `host:port`.
    pub fn server(mut self, name: &str, host: &str) -> Self {
        self.servers.insert(
            name.to_owned(),
            json!({ "host": host, "protocol": "kafka" }),
        );
        self
    }

    /// The topic `topic` as a channel carrying `T` (no operation).
    pub fn channel<T: KafkaMessage + JsonSchema>(mut self, topic: &str) -> Self {
        self.add_channel::<T>(topic);
        self
    }

    /// The application sends `T` to `topic`.
    pub fn send<T: KafkaMessage + JsonSchema>(self, topic: &str) -> Self {
        self.operation::<T>("send", topic)
    }

    /// The application receives `T` from `topic`.
    pub fn receive<T: KafkaMessage + JsonSchema>(self, topic: &str) -> Self {
        self.operation::<T>("receive", topic)
    }

    /// The document.
    pub fn build(mut self) -> Value {
        let schemas = self.generator.take_definitions(true);
        let mut components = Map::new();
        if !self.messages.is_empty() {
            components.insert("messages".into(), Value::Object(self.messages));
        }
        if !schemas.is_empty() {
            components.insert("schemas".into(), Value::Object(schemas));
        }
        let mut doc = Map::new();
        doc.insert("asyncapi".into(), "3.0.0".into());
        doc.insert("info".into(), Value::Object(self.info));
        doc.insert("defaultContentType".into(), "application/json".into());
        for (key, map) in [
            ("servers", self.servers),
            ("channels", self.channels),
            ("operations", self.operations),
            ("components", components),
        ] {
            if !map.is_empty() {
                doc.insert(key.into(), Value::Object(map));
            }
        }
        Value::Object(doc)
    }

    fn operation<T: KafkaMessage + JsonSchema>(mut self, action: &str, topic: &str) -> Self {
        self.add_channel::<T>(topic);
        let id = format!("{action}_{topic}_{}", ident(T::NAME));
        self.operations.insert(
            id,
            json!({
                "action": action,
                "channel": { "$ref": format!("#/channels/{}", pointer(topic)) },
                "messages": [{
                    "$ref": format!("#/channels/{}/messages/{}", pointer(topic), pointer(&ident(T::NAME)))
                }],
            }),
        );
        self
    }

    fn add_channel<T: KafkaMessage + JsonSchema>(&mut self, topic: &str) {
        let name = ident(T::NAME);
        self.add_message::<T>(&name);
        let channel = self
            .channels
            .entry(topic.to_owned())
            .or_insert_with(|| {
                json!({
                    "address": topic,
                    "messages": {},
                    "bindings": { "kafka": { "topic": topic, "bindingVersion": KAFKA_BINDING_VERSION } },
                })
            });
        if let Some(Value::Object(messages)) = channel.get_mut("messages") {
            messages.insert(
                name.clone(),
                json!({ "$ref": format!("#/components/messages/{}", pointer(&name)) }),
            );
        }
    }

    fn add_message<T: KafkaMessage + JsonSchema>(&mut self, name: &str) {
        if self.messages.contains_key(name) {
            return;
        }
        let mut payload = T::json_schema(&mut self.generator);
        for transform in self.generator.transforms_mut() {
            transform.transform(&mut payload);
        }
        super::describe(&mut payload, T::NAME, T::VERSION);
        let payload = payload.to_value();
        // A trait object's messages are tagged with the concrete type.
        let type_names: Vec<Value> = match payload.get("oneOf").and_then(Value::as_array) {
            Some(members) => members
                .iter()
                .filter_map(|m| m.get("title").cloned())
                .collect(),
            None => vec![Value::String(T::NAME.to_owned())],
        };
        let content_type = T::Codec::default().content_type().to_owned();
        let mut header_props = Map::new();
        header_props.insert(
            headers::CONTENT_TYPE.into(),
            json!({ "type": "string", "const": content_type }),
        );
        header_props.insert(
            headers::TYPE.into(),
            json!({ "type": "string", "enum": type_names, "description": "The type's name: for a trait object, the concrete type's tag" }),
        );
        header_props.insert(
            headers::VERSION.into(),
            json!({ "type": "string", "pattern": "^[0-9]+$", "description": "The schema version, in decimal, when the type has one" }),
        );
        self.messages.insert(
            name.to_owned(),
            json!({
                "name": T::NAME,
                "title": T::NAME,
                "contentType": content_type,
                "headers": { "type": "object", "properties": header_props },
                "payload": payload,
            }),
        );
    }
}

/// A name usable as a component key (`^[a-zA-Z0-9.\-_]+$`).
fn ident(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A JSON pointer segment.
fn pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
