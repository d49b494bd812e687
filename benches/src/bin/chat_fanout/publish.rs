//! The baseline: redis PUBLISH to one channel with N - 1 subscriber connections, the same senders
//! (one connection each), schedule, texts and counting as the chat run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use crate::{Args, Counts, Figures, Plan, Slots, drain, figures, key, rand_u64};

/// Not a sender: the owner of a subscriber's counts.
const NOBODY: u32 = u32::MAX;

pub async fn run(url: &str, args: &Args, n: usize, rate: f64, senders: usize) -> anyhow::Result<Figures> {
    let client = redis::Client::open(url)?;
    let channel = format!("mmobench:s5:{:016x}", rand_u64());
    let mut subscribers = Vec::new();
    for _ in 1..n {
        let mut ps = client.get_async_pubsub().await?;
        ps.subscribe(&channel).await?;
        subscribers.push(ps);
    }
    let mut publishers = Vec::new();
    for _ in 0..senders {
        publishers.push(client.get_multiplexed_async_connection().await?);
    }

    let plan = Arc::new(Plan::new(args, n));
    let progress = Arc::new(AtomicU64::new(0));
    let (sent, acked) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = CancellationToken::new();
    let mut readers = Vec::new();
    for mut ps in subscribers {
        let (plan, progress, stop) = (plan.clone(), progress.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut c = Counts::new();
            let mut messages = ps.on_message();
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    m = messages.next() => match m {
                        Some(m) => c.delivered(m.get_payload_bytes(), &plan, &progress),
                        None => {
                            c.error("closed");
                            break;
                        }
                    },
                }
            }
            c
        }));
    }
    let mut writers = Vec::new();
    for (k, mut conn) in publishers.into_iter().enumerate() {
        let (plan, sent, acked, channel) = (plan.clone(), sent.clone(), acked.clone(), channel.clone());
        let (size, receivers) = (args.size, n as u64 - 1);
        writers.push(tokio::spawn(async move {
            let mut c = Counts::new();
            let mut slots = Slots::new(k, senders, rate);
            while let Some((j, at)) = slots.peek(&plan) {
                slots.advance();
                sleep_until(plan.base + Duration::from_micros(at)).await;
                let measured = at >= plan.window_start_us;
                let text = crate::payload(measured, k as u32, j, at, size);
                if measured {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                let got: redis::RedisResult<u64> =
                    redis::cmd("PUBLISH").arg(&channel).arg(text).query_async(&mut conn).await;
                match got {
                    Ok(r) if measured => {
                        if r < receivers {
                            c.error("publish_reached_fewer");
                        }
                        c.acked.push(key(k as u32, j));
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => c.error("publish_failed"),
                }
            }
            c
        }));
    }
    drain(&plan, &progress, &sent, &acked, args.drain).await;
    stop.cancel();
    let mut all = Vec::new();
    let mut owners = Vec::new();
    for h in readers {
        all.push(h.await?);
        owners.push(NOBODY);
    }
    for (k, h) in writers.into_iter().enumerate() {
        all.push(h.await?);
        owners.push(k as u32);
    }
    Ok(figures(&plan, senders, rate, sent.load(Ordering::Relaxed), all, &owners))
}
