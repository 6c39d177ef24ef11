//! Writing: once per loop turn every connection the core marked dirty gets
//! one write of what the core encoded; closes the core asked for are
//! finished here, after the last bytes went out.

use std::io::{self, Write};
use std::time::Instant;

use super::streams::Socket;
use super::Broker;
use crate::broker::core::context::{CloseReason, Connection};
use crate::broker::core::ids::ConnId;
use crate::broker::core::BridgeTask;
use crate::broker::Stats;

/// Output buffers larger than this are given back after they drain, so a
/// burst does not pin memory on an idle connection.
const WBUF_KEEP: usize = 64 * 1024;

/// What one flush of a connection came to.
struct Flushed {
    /// The socket failed.
    failed: bool,
    /// MQTT bytes are left for the next write.
    pending: bool,
    /// Websocket bytes of its own are left.
    own_pending: bool,
    /// Some MQTT bytes went out (the client is draining).
    wrote: bool,
}

impl Broker {
    /// Writes every dirty connection's output: one write per connection per
    /// turn, WRITABLE interest only while the kernel pushes back.
    pub(super) fn flush_dirty(&mut self) {
        // Closing a connection can publish a will, which dirties others:
        // flush in batches until none is left.
        let mut batch = std::mem::take(&mut self.flushing);
        loop {
            self.core.swap_dirty(&mut batch);
            if batch.is_empty() {
                break;
            }
            for &ck in &batch {
                self.flush_conn(ck);
            }
            batch.clear();
        }
        self.flushing = batch;
    }

    pub(super) fn flush_conn(&mut self, ck: ConnId) {
        // Top up from the retained backlog first, so it goes in this write.
        let backlog_of = self.core.before_flush(ck);
        let Some(conn) = self.core.conns.get_mut(ck) else {
            return;
        };
        let Some(socket) = self.streams.get_mut(ck) else {
            // No socket (cannot happen): nothing can be written, ever.
            conn.closing.get_or_insert(CloseReason::ConnectionLost);
            self.finish_close(ck);
            return;
        };
        let done = write_out(socket, conn, &mut self.core.stats);
        if !done.pending && conn.release_wbuf {
            conn.release_wbuf = false;
            conn.release_idle_buffers();
        }
        if done.failed {
            conn.closing.get_or_insert(CloseReason::ConnectionLost);
        }
        if conn.closing.is_some() {
            // Whatever could be written has been; a peer that does not read
            // its refusal does not keep the socket open.
            self.finish_close(ck);
            return;
        }
        let pending = done.pending || done.own_pending;
        if pending != socket.want_write && !socket.stream.is_tls() {
            socket.want_write = pending;
            let interest = socket.stream.interest(pending);
            let _ = self.poll.registry().reregister(
                &mut socket.stream,
                super::conn_token(ck),
                interest,
            );
        }
        self.core
            .after_flush(ck, backlog_of, done.pending, done.wrote);
    }

    /// Closes connection `ck`'s socket and has the core forget it (will,
    /// session, bridge state), then does the socket work that follows.
    pub(super) fn finish_close(&mut self, ck: ConnId) {
        if let Some(mut socket) = self.streams.take(ck) {
            let _ = self.poll.registry().deregister(&mut socket.stream);
            let bridge = self.core.conns.get(ck).and_then(|c| c.bridge());
            let why = socket.stream.tls_failure();
            if let (Some(why), Some(b)) = (why, bridge.and_then(|i| self.core.bridges.get(i))) {
                crate::notice!("Bridge {}: {why}.", b.cfg.name);
            }
        }
        self.core.close_conn(ck, Instant::now());
        self.run_tasks();
    }

    /// Does the socket work the core asked for.
    pub(super) fn run_tasks(&mut self) {
        while let Some(task) = self.core.next_bridge_task() {
            match task {
                BridgeTask::Connect(i) => self.bridge_connect(i),
                BridgeTask::Probe(i, serial) => self.bridge_probe_tick(i, serial),
                BridgeTask::Lost {
                    bridge,
                    was_connecting,
                    to_primary,
                } => self.bridge_lost(bridge, was_connecting, to_primary),
            }
        }
    }
}

/// One write of `conn`'s output to `socket` (for TLS, on until done or
/// blocked), websocket bytes of its own around it.
fn write_out(socket: &mut Socket, conn: &mut Connection, stats: &mut Stats) -> Flushed {
    let stream = &mut socket.stream;
    let mut done = Flushed {
        failed: false,
        pending: false,
        own_pending: false,
        wrote: false,
    };
    // One write for TCP: a short write means the kernel pushed back and
    // WRITABLE will follow. A TLS write sends at most one record (16 KB)
    // without any push-back, so write on until done or WouldBlock, or
    // the rest of a large message would wait for an unrelated event.
    let tls = stream.is_tls();
    // A websocket's own bytes (handshake answer, pong) go before MQTT
    // bytes; plain streams have none and make no call.
    let ws = stream.websocket().is_some();
    if ws {
        match stream.flush_own() {
            Ok(all) => done.own_pending = !all,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => done.own_pending = true,
            Err(_) => done.failed = true,
        }
    }
    if let Some(b) = conn.io.as_deref_mut().filter(|_| !done.failed) {
        while b.wpos < b.wbuf.len() {
            match stream.write(b.wbuf.get(b.wpos..).unwrap_or(&[])) {
                Ok(n) => {
                    b.wpos += n;
                    done.wrote |= n > 0;
                    stats.bytes_sent += n as u64;
                    if !tls || n == 0 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                Err(_) => {
                    done.failed = true;
                    break;
                }
            }
        }
        done.pending = b.wpos < b.wbuf.len();
        if !done.pending {
            b.wbuf.clear();
            b.wpos = 0;
            if b.wbuf.capacity() > WBUF_KEEP {
                b.wbuf.shrink_to(WBUF_KEEP / 4);
            }
        }
    }
    if ws && !done.failed {
        // Closing: a close frame after the last MQTT bytes, if they
        // all went out.
        if let (Some(reason), false) = (conn.closing, done.pending) {
            stream.send_close(reason);
        }
        match stream.flush_own() {
            Ok(all) => done.own_pending = !all,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => done.own_pending = true,
            Err(_) => done.failed = true,
        }
        // An HTTP answer or a close frame is out: that was all.
        if stream.is_finished() && conn.closing.is_none() {
            conn.closing = Some(CloseReason::ConnectionLost);
        }
    }
    done
}
