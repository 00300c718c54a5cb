use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Order {
    #[kafka(partition_key)]
    id: u64,
}

fn main() {}
