use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(key = "id")]
enum Event {
    Created { id: u64 },
    Deleted { #[kafka(key)] id: u64 },
}

fn main() {}
