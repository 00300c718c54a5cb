use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Circle {
    radius: f64,
}

#[kafka_codec::polymorphic]
impl Circle {
    fn area(&self) -> f64 {
        self.radius * self.radius * std::f64::consts::PI
    }
}

fn main() {
    // The impl is kept as written, so this is not an error too.
    let _ = Circle { radius: 1.0 }.area();
}
