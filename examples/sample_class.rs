//! Port of the sample's class file: the hierarchy (in the `kafka-codec-sample`
//! crate, `sample/src/lib.rs`) and what its instances look like on the wire.
//!
//! ```sh
//! cargo run --example sample_class
//! ```

use kafka_codec_sample as sample;

use kafka_codec::KafkaMessage;
use sample::{customer, employee, order, person, Entity};

fn main() -> Result<(), kafka_codec::Error> {
    let mut rng = rand::thread_rng();
    let entities: Vec<Box<dyn Entity>> = vec![
        Box::new(person(&mut rng)),
        Box::new(employee(&mut rng)),
        Box::new(customer(&mut rng)),
        Box::new(order(&mut rng)),
    ];
    for entity in &entities {
        let bytes = entity.to_bytes()?;
        println!("{}", String::from_utf8_lossy(&bytes));
        let back = <Box<dyn Entity>>::from_bytes(&bytes)?;
        assert_eq!(format!("{back:?}"), format!("{entity:?}"));
    }
    Ok(())
}
