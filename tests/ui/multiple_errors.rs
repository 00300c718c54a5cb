use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

// Two mistakes in one struct: both are reported, and nothing else.
#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(topik = "orders")]
struct Order {
    #[kafka(primary)]
    id: u64,
}

fn main() {}
