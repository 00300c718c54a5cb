use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt as _;

use super::record::Record;
use crate::error::{BoxError, RecordMeta};
use crate::headers;
use crate::poly::{Downcast, Polymorphic, Upcast};

type Route<Tr> =
    Arc<dyn Fn(RecordMeta, Box<Tr>) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// Handlers by type, for a topic that carries many types: routes for
/// concrete types ([`on`](Self::on)), for a base of a hierarchy, as
/// Python's `isinstance` ([`on_base`](Self::on_base)), and a
/// [`fallback`](Self::fallback). A route to a type the trait does not
/// cover is a compile error. Give any run
/// `move |record| dispatch.handle(record)`.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::{Consumer, ConsumerBuilder, Dispatch, Shutdown};
/// # #[kafka_codec::polymorphic(topic = "entities")]
/// # trait Entity: std::fmt::Debug {}
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # struct Employee { name: String }
/// # #[kafka_codec::polymorphic] impl Entity for Employee {}
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # struct Order { total: u64 }
/// # #[kafka_codec::polymorphic] impl Entity for Order {}
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # struct Party { name: String }
/// # #[derive(Debug, kafka_codec::KafkaMessage)]
/// # struct Supplier { #[kafka(base)] party: Party, terms: u32 }
/// # #[kafka_codec::polymorphic] impl Entity for Supplier {}
/// let dispatch = Dispatch::<dyn Entity>::new()
///     .on(|_meta, e: Employee| async move { println!("hello {}", e.name); Ok(()) })
///     .on(|_meta, o: Order| async move { println!("bill {}", o.total); Ok(()) })
///     .on_base(|_meta, p: Party| async move { println!("a party: {}", p.name); Ok(()) })
///     .fallback(|meta, other| async move { println!("{other:?} at {}", meta.offset); Ok(()) });
/// let consumer: Consumer<Box<dyn Entity>> = ConsumerBuilder::new("localhost:9092", "app").build()?;
/// consumer.run(Shutdown::on_signals()?, move |r| dispatch.handle(r)).await.into_result()?;
/// # Ok(()) }
/// ```
pub struct Dispatch<Tr: ?Sized + Downcast> {
    routes: Vec<(TypeId, Route<Tr>)>,
    /// Routes for bases, tried in order after the concrete types.
    bases: Vec<(TypeId, Route<Tr>)>,
    fallback: Option<Route<Tr>>,
}

impl<Tr: ?Sized + Downcast> Clone for Dispatch<Tr> {
    fn clone(&self) -> Self {
        Dispatch {
            routes: self.routes.clone(),
            bases: self.bases.clone(),
            fallback: self.fallback.clone(),
        }
    }
}

impl<Tr: ?Sized + Downcast> std::fmt::Debug for Dispatch<Tr> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch")
            .field("routes", &self.routes.len())
            .field("bases", &self.bases.len())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl<Tr: ?Sized + Downcast> Default for Dispatch<Tr> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Tr: ?Sized + Downcast> Dispatch<Tr> {
    /// No handlers yet.
    pub fn new() -> Self {
        Dispatch {
            routes: Vec::new(),
            bases: Vec::new(),
            fallback: None,
        }
    }

    /// Handles values whose concrete type is `E`, by value. `E` must be a
    /// registered implementation of the trait (a compile error otherwise).
    #[must_use]
    pub fn on<E, F, Fut>(mut self, handler: F) -> Self
    where
        E: Any + Send + Sync + Upcast<Tr>,
        F: Fn(RecordMeta, E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let route: Route<Tr> = Arc::new(move |meta, value: Box<Tr>| {
            match Downcast::into_any(value).downcast::<E>() {
                Ok(e) => handler(meta, *e).boxed(),
                // Routes are looked up by the value's TypeId, so this is the
                // right type; still, never panic on it.
                Err(_) => {
                    futures::future::ready(Err("dispatch: type changed under the route".into()))
                        .boxed()
                }
            }
        });
        self.routes.push((TypeId::of::<E>(), route));
        self
    }

    /// Handles values that extend `B` (`#[kafka(base)]`, however deep) and
    /// that no [`on`](Self::on) route takes, with a copy of their `B` part:
    /// Python's `isinstance`. Base routes are tried in the order they were
    /// added.
    #[must_use]
    pub fn on_base<B, F, Fut>(mut self, handler: F) -> Self
    where
        Tr: Polymorphic,
        B: Any + Clone + Send,
        F: Fn(RecordMeta, B) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let route: Route<Tr> = Arc::new(move |meta, value: Box<Tr>| {
            let mut base = None;
            Tr::views(&*value, &mut |v| {
                base = v.downcast_ref::<B>().cloned();
                base.is_some()
            });
            match base {
                Some(base) => handler(meta, base).boxed(),
                // Routes are chosen by the value's views, so it has one;
                // still, never panic on it.
                None => futures::future::ready(Err("dispatch: no such base".into())).boxed(),
            }
        });
        self.bases.push((TypeId::of::<B>(), route));
        self
    }

    /// Handles every value no `on` handler takes.
    #[must_use]
    pub fn fallback<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(RecordMeta, Box<Tr>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.fallback = Some(Arc::new(move |meta, value| handler(meta, value).boxed()));
        self
    }

    /// Routes one record. Without a matching handler or fallback, fails with
    /// an error naming the type, so nothing is ignored silently.
    pub fn handle(&self, record: Record<Box<Tr>>) -> BoxFuture<'static, Result<(), BoxError>>
    where
        Tr: Polymorphic,
    {
        let (meta, _payload, value) = record.into_parts();
        let any: &dyn Any = Downcast::as_any(&*value);
        let id = any.type_id();
        let extends = |base: TypeId| Tr::views(&*value, &mut |v| v.type_id() == base);
        let route = self
            .routes
            .iter()
            .find(|(t, _)| *t == id)
            .or_else(|| self.bases.iter().find(|(b, _)| extends(*b)))
            .map(|(_, r)| r)
            .or(self.fallback.as_ref());
        match route {
            Some(route) => route(meta, value),
            None => {
                let name = crate::kafka::record::header(&meta, headers::TYPE).map_or_else(
                    || "an unnamed type".to_owned(),
                    |v| String::from_utf8_lossy(v).into_owned(),
                );
                futures::future::ready(Err(format!("no handler for {name}").into())).boxed()
            }
        }
    }
}
