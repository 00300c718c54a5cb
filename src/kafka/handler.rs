//! The one handler shape every run takes.

use std::future::Future;

use futures::future::MapErr;
use futures::TryFutureExt as _;

use crate::error::BoxError;

/// What a run calls for each record (or [batch](super::Batch)): an async
/// function of it that returns `Result<(), E>` for any error convertible
/// into [`BoxError`].
///
/// Implemented for every `Fn(In) -> impl Future<Output = Result<(), E>>`
/// that is `Clone + Send + Sync + 'static`: an `async fn`, a closure over
/// `Arc`s, a [`Dispatch`](super::Dispatch)'s `move |r| dispatch.handle(r)`.
/// The runs spell the bound out as `Fn` (so a closure's argument type is
/// inferred from the consumer's); this trait names it. The same handler
/// runs a single consumer, the members of a [`Group`](super::Group) and
/// the partitions of a [`Partitioned`](super::Partitioned) member: it is
/// cloned for each task that calls it.
///
/// ```
/// use kafka_codec::kafka::{Handler, Record};
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "orders")]
/// # struct Order { id: u32 }
/// #[derive(Debug, thiserror::Error)]
/// #[error("order {0} is not billable")]
/// struct NotBillable(u32);
///
/// async fn bill(record: Record<Order>) -> Result<(), NotBillable> {
///     if record.value().id == 0 { return Err(NotBillable(0)) }
///     Ok(())
/// }
/// fn takes(_: impl Handler<Record<Order>>) {}
/// takes(bill);
/// ```
pub trait Handler<In>: Clone + Send + Sync + 'static {
    /// The future a call returns.
    type Future: Future<Output = Result<(), BoxError>> + Send + 'static;

    /// Handles one input.
    fn handle(&self, input: In) -> Self::Future;
}

impl<In, F, Fut, E> Handler<In> for F
where
    F: Fn(In) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    type Future = MapErr<Fut, fn(E) -> BoxError>;

    fn handle(&self, input: In) -> Self::Future {
        self(input).map_err(Into::into as fn(E) -> BoxError)
    }
}
