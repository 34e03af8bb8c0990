//! One packet into a shard that holds something of everything (see `world`): a generated
//! segment aimed at one of its 4-tuples, or raw bytes (with checksums made to pass, so
//! the checks behind them are reached). Afterwards the shard's replies must be well formed,
//! its timers must run, and its invariants must hold.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::emit::{SegSpec, fix_checksums};
use crate::world::World;

#[derive(Arbitrary, Debug)]
enum Input {
    Segment { tuple: u8, spec: SegSpec },
    Raw { keep_checksums: bool, bytes: Vec<u8> },
    /// As a TUN device with offloads hands a packet over: in a block the shard may keep.
    InBlock { tuple: u8, spec: SegSpec, large: bool, vouched: bool },
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    crate::debug(&input);
    let mut w = match input {
        Input::InBlock { .. } => World::with_config(crate::world::bulk_config()),
        _ => World::new(),
    };
    match &input {
        Input::Segment { tuple, spec } => w.inject(usize::from(*tuple), spec),
        Input::InBlock { tuple, spec, large, vouched } => {
            w.inject_in_block(usize::from(*tuple), spec, *large, *vouched);
        }
        Input::Raw { keep_checksums, bytes } => {
            let mut p = bytes.clone();
            if !keep_checksums {
                fix_checksums(&mut p);
            }
            let now = w.now;
            w.shard.handle_packet(now, &p);
        }
    }
    w.check();
    w.drain();
    w.check();
    for _ in 0..3 {
        w.advance(Duration::from_millis(700));
        w.drain();
        w.check();
    }
}
