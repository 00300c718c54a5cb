#[kafka_codec::polymorphic]
struct Circle {
    radius: f64,
}

fn main() {
    // The struct is kept as written, so this is not an error too.
    let _ = Circle { radius: 1.0 }.radius;
}
