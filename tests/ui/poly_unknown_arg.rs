use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[kafka_codec::polymorphic(tag = "kind", name = "Shape")]
trait Shape {
    fn area(&self) -> f64;
}

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Circle {
    radius: f64,
}

#[kafka_codec::polymorphic(tag = "kind")]
impl Shape for Circle {
    fn area(&self) -> f64 {
        self.radius * self.radius * std::f64::consts::PI
    }
}

fn main() {
    // Both items still expand with their valid arguments: no follow-on errors.
    let shape: Box<dyn Shape> = Box::new(Circle { radius: 1.0 });
    let _ = shape.to_bytes();
}
