#[kafka_codec::polymorphic]
trait Shape<T> {
    fn area(&self) -> T;
}

// The trait is kept as written, so this is not an error too.
struct Square(f64);

impl Shape<f64> for Square {
    fn area(&self) -> f64 {
        self.0 * self.0
    }
}

fn main() {
    let _ = Square(2.0).area();
}
