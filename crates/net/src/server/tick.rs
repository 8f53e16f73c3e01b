//! The 100 ms timer: reports links' and clients' buffers, runs the node's cron and the AOF's
//! `everysec` sync.

use std::sync::Arc;
use std::time::Duration;

use super::{Shared, LOG_TARGET, TICK_INTERVAL_MS};
use crate::buggify;

pub(super) async fn tick(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(Duration::from_millis(TICK_INTERVAL_MS)).await;
        if buggify::fires(buggify::Point::TickDelay) {
            tokio::time::sleep(Duration::from_millis(buggify::delay_ms(50))).await;
        }
        shared.wait_while_paused().await;
        if !shared.tick_once() {
            return;
        }
    }
}

impl Shared {
    fn tick_once(self: &Arc<Self>) -> bool {
        let mut node = self.lock_node();
        if self.stopped() {
            return false;
        }
        let reports = self.link_buffer_reports();
        node.bus_link_buffers(self.clock.now(), &reports);
        let clients = self.client_buffer_reports();
        node.client_buffers(self.clock.now(), &clients);
        node.tick(self.clock.now());
        let effects = node.take_effects();
        if !self.perform(&mut node, effects) {
            return false;
        }
        if let Err(e) = self.tick_aof(&mut node) {
            tracing::warn!(target: LOG_TARGET, "Error syncing the AOF file: {e}");
            self.stop(Err(e));
            return false;
        }
        true
    }
}
