//! # tessera-bench-suite
//!
//! Benchmarks of Tessera. The criterion micro-benchmarks live in `benches/` and run
//! with `cargo bench -p tessera-bench-suite`; this library holds what they share.
#![deny(missing_docs)]

use tessera_core::{Channel, ChannelConfig, Result};
use tokio::net::TcpListener;

/// Two channel ends connected over TCP loopback (127.0.0.1, an ephemeral port).
///
/// # Errors
/// If binding, connecting or accepting fails.
pub async fn tcp_pair(config: ChannelConfig) -> Result<(Channel, Channel)> {
    let listener =
        TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| tessera_core::Error::Io {
                context: "binding a loopback port",
                source,
            })?;
    let addr = listener
        .local_addr()
        .map_err(|source| tessera_core::Error::Io {
            context: "reading the local address",
            source,
        })?;
    let (a, b) = tokio::join!(
        Channel::accept(&listener, config),
        Channel::connect(addr, config)
    );
    Ok((a?, b?))
}
