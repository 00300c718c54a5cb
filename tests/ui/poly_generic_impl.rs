use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[kafka_codec::polymorphic]
trait Shape {
    fn sides(&self) -> u32;
}

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Polygon<const N: u32>;

#[kafka_codec::polymorphic]
impl<const N: u32> Shape for Polygon<N> {
    fn sides(&self) -> u32 {
        N
    }
}

fn main() {}
