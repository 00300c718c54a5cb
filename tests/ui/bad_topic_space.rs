use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(topic = "new orders")]
struct Order {
    id: u64,
}

fn main() {}
