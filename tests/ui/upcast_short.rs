use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

fn step(v: serde_json::Value) -> Result<serde_json::Value, String> {
    Ok(v)
}

// The chain must reach the current version, and stay below it.
#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 4)]
#[kafka(upcast(from = 1, value = step))]
#[kafka(upcast(from = 2, value = step))]
struct Short {
    name: String,
}

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 2, upcast(from = 1, value = step), upcast(from = 2, value = step))]
struct Past {
    name: String,
}

// Steps need a version.
#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(upcast(from = 1, value = step))]
struct Unversioned {
    name: String,
}

fn main() {}
