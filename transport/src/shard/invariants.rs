//! What must hold for a shard between any two calls: the books it keeps (live
//! connections, buffer memory, listener queues, the connection table, counters) agree with
//! what it holds, and every connection with a deadline has a timer that will fire. The fuzz
//! targets check this after every step.

use std::collections::HashMap;

use super::{Shard, Slot};
use crate::table::ConnKey;

impl Shard {
    /// Checks the shard's internal consistency; the error says what is broken. Meant for
    /// fuzzing and tests: it walks every connection, so it is not for the data path.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([0; 16]));
    /// shard.listen("10.0.0.1:80".parse().unwrap(), 8).unwrap();
    /// shard.handle_packet(Instant::ZERO, &[0x45, 0, 0, 20]);
    /// assert_eq!(shard.check_invariants(), Ok(()));
    /// ```
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut live = 0;
        let mut accounted = 0;
        let mut promised = 0;
        let mut syn_queued: HashMap<u32, usize> = HashMap::new();
        for (idx, slot) in &self.conns {
            match slot {
                Slot::Live(c) => {
                    live += 1;
                    accounted += c.accounted.0;
                    promised += c.accounted.1;
                    if c.accounted != (c.buffer_bytes(), c.promise()) {
                        return Err(format!("slot {idx}: {:?} bytes and promise counted, {:?} held", c.accounted, (c.buffer_bytes(), c.promise())));
                    }
                    c.check_invariants()?;
                    if let Some(d) = c.next_deadline()
                        && c.timer_registered.is_none_or(|r| r > d)
                    {
                        return Err(format!("slot {idx}: deadline {d:?} with no timer registered before it"));
                    }
                    if c.in_syn_queue {
                        let Some(l) = c.listener else { return Err(format!("slot {idx}: in a SYN queue without a listener")) };
                        *syn_queued.entry(l).or_default() += 1;
                    }
                    if c.in_syn_queue && c.in_accept_queue {
                        return Err(format!("slot {idx}: in both queues"));
                    }
                }
                Slot::Remnant(r) => accounted += r.accounted,
            }
        }
        if live != self.live {
            return Err(format!("{live} live connections, {} counted", self.live));
        }
        if accounted + self.memory.external() != self.memory.used() {
            return Err(format!("{accounted} buffer bytes held, {} counted", self.memory.used()));
        }
        if promised != self.memory.promised() {
            return Err(format!("{promised} bytes of window promised, {} counted", self.memory.promised()));
        }
        for (l, lst) in &self.listeners {
            let held = syn_queued.get(&(l as u32)).copied().unwrap_or(0);
            if held != lst.syn_queue_len() {
                return Err(format!("listener {l}: {held} embryonic connections, {} counted", lst.syn_queue_len()));
            }
            for (idx, generation) in lst.queued() {
                match self.conns.get(idx as usize) {
                    Some(Slot::Live(c)) if c.generation != generation || (c.listener == Some(l as u32) && c.in_accept_queue) => {}
                    Some(Slot::Live(_)) => return Err(format!("listener {l}: queued slot {idx} is not its accepted connection")),
                    _ => {}
                }
            }
        }
        for (key, idx) in self.table.iter() {
            match self.conns.get(idx as usize) {
                Some(Slot::Live(c)) if ConnKey::new(c.local, c.remote) == *key => {}
                _ => return Err(format!("table entry {key:?} points at slot {idx}, which is not its connection")),
            }
        }
        let (s, d) = (&self.stats, &self.drops);
        let edge = d.bad_ip_checksum + d.bad_checksum + d.truncated + d.malformed + d.bad_option + d.fragment + d.not_for_us + d.unknown_protocol;
        if s.ip_in_receives != s.tcp_in_segs + s.icmp_in + edge {
            return Err(format!("{} packets in, {} TCP + {} ICMP + {edge} dropped at the edge", s.ip_in_receives, s.tcp_in_segs, s.icmp_in));
        }
        if s.ip_out_requests != s.tcp_out_segs + s.icmp_out {
            return Err(format!("{} packets out, {} TCP + {} ICMP", s.ip_out_requests, s.tcp_out_segs, s.icmp_out));
        }
        if s.syncookies_recv > s.passive_opens {
            return Err("more cookie connections than passive opens".into());
        }
        if self.control.len() > self.cfg.control_queue {
            return Err("control queue over its bound".into());
        }
        if self.fin_cache.len() > self.fin_cache.config().capacity {
            return Err("FIN cache over its capacity".into());
        }
        Ok(())
    }
}
