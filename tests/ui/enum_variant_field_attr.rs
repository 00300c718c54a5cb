use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
enum Event {
    Created {
        #[kafka(key)]
        id: u64,
    },
}

fn main() {}
