//! The daemon's service layer: one function per request, knowing nothing
//! of transports. Each takes what the request carries (its payload, the
//! requesting command's knobs, a sender for the events it streams) and
//! returns protocol types; the socket connection (`super::socket`) is one
//! thin adapter over it, and HTTP and NATS routes are the next.

pub mod admin;
pub mod chat;
pub mod events;
pub mod history;
pub mod lifecycle;
pub mod logs;
pub mod ready;
pub mod restore;
pub mod smoke;
pub mod status;
pub mod weights;

/// Runs `work` with a sender whose items go both to `out` (the caller's
/// stream) and onto the bus as `topic`, in order, each as it comes.
pub async fn teed<T, F>(
    bus: &crate::bus::Bus,
    topic: &str,
    out: tokio::sync::mpsc::UnboundedSender<T>,
    public: impl Fn(&T) -> serde_json::Value,
    work: impl FnOnce(tokio::sync::mpsc::UnboundedSender<T>) -> F,
) -> F::Output
where
    F: std::future::Future,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let work = work(tx);
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => {
                while let Ok(item) = rx.try_recv() {
                    bus.publish(topic, &public(&item));
                    let _ = out.send(item);
                }
                return result;
            }
            Some(item) = rx.recv() => {
                bus.publish(topic, &public(&item));
                let _ = out.send(item);
            }
        }
    }
}
