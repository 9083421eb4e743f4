//! Benchmark of the agent as a whole process: GetNodeGpus latency over loopback, then
//! the agent's resident memory and CPU use per minute at 1 s sampling.
//!
//! ```text
//! cargo build --release -p gpu-node-agent
//! cargo run --release -p gpu-node-agent --example bench -- [--calls 5000] [--window-secs 60] [--gpus 8] [--agent PATH]
//! ```
//!
//! The agent runs with the simulated backend (an 8-GPU inventory file) and
//! `--kube-sync=false`, so no cluster is needed; the sampler, health tracker,
//! metrics, gRPC server and one WatchNodeGpus subscriber all run as in production.
//! Numbers are read from `/proc/<pid>` (Linux).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlfleet_proto::gpu::v1::gpu_agent_client::GpuAgentClient;
use mlfleet_proto::gpu::v1::{GetNodeGpusRequest, WatchNodeGpusRequest};

struct Opts {
    calls: usize,
    window: Duration,
    gpus: usize,
    agent: PathBuf,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        calls: 5000,
        window: Duration::from_secs(60),
        gpus: 8,
        agent: std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("gpu-node-agent"))
            .ok_or("cannot locate the target directory")?,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--calls" => o.calls = val()?.parse().map_err(|e| format!("--calls: {e}"))?,
            "--window-secs" => {
                o.window =
                    Duration::from_secs(val()?.parse().map_err(|e| format!("--window-secs: {e}"))?)
            }
            "--gpus" => o.gpus = val()?.parse().map_err(|e| format!("--gpus: {e}"))?,
            "--agent" => o.agent = PathBuf::from(val()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn free_addr() -> std::io::Result<String> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .to_string())
}

/// (utime + stime in clock ticks, VmRSS KiB, VmHWM KiB) of `pid`.
fn proc_usage(pid: u32) -> Result<(u64, u64, u64), String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f[11].parse::<u64>().map_err(|e| e.to_string())?
        + f[12].parse::<u64>().map_err(|e| e.to_string())?;
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((ticks, kib("VmRSS:"), kib("VmHWM:")))
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = opts()?;
    if !o.agent.is_file() {
        return Err(format!(
            "agent binary {} not found; run `cargo build --release -p gpu-node-agent` first or pass --agent",
            o.agent.display()
        )
        .into());
    }
    let dir = std::env::temp_dir().join(format!("gna-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let inv = dir.join("inventory.yaml");
    let mut text = String::from("driverVersion: \"550.54.15\"\ngpus:\n");
    for i in 0..o.gpus {
        text += &format!(
            "  - name: NVIDIA H100 80GB HBM3\n    memoryTotalMiB: 81559\n    memoryUsedMiB: {}\n    utilizationPercent: {}\n    powerWatts: 300\n    migMode: disabled\n    eccUncorrectable: 0\n",
            1024 * i,
            (i * 11) % 100
        );
    }
    std::fs::write(&inv, text)?;
    let grpc = free_addr()?;
    let child = Command::new(&o.agent)
        .args(["run", "--node-name", "bench-node", "--backend", "simulated"])
        .args(["--sim-inventory", &inv.display().to_string()])
        .args([
            "--sample-interval",
            "1s",
            "--kube-sync=false",
            "--log-level",
            "warn",
        ])
        .args(["--grpc-addr", &grpc, "--admin-addr", &free_addr()?])
        .args(["--dcgm-metrics-addr", &free_addr()?])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let agent = Guard(child);
    let pid = agent.0.id();

    let endpoint = format!("http://{grpc}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = loop {
        match GpuAgentClient::connect(endpoint.clone()).await {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    // Wait for the first sample.
    loop {
        let r = client
            .get_node_gpus(GetNodeGpusRequest::default())
            .await?
            .into_inner();
        if r.node.is_some_and(|n| n.gpus.len() == o.gpus) {
            break;
        }
        if Instant::now() > deadline {
            return Err("agent never reported its GPUs".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for _ in 0..200 {
        client.get_node_gpus(GetNodeGpusRequest::default()).await?;
    }
    let mut lat = Vec::with_capacity(o.calls);
    for _ in 0..o.calls {
        let t = Instant::now();
        client.get_node_gpus(GetNodeGpusRequest::default()).await?;
        lat.push(t.elapsed());
    }
    lat.sort_unstable();
    println!(
        "GetNodeGpus over loopback ({} GPUs, {} sequential calls): p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        o.gpus,
        o.calls,
        percentile(&lat, 0.50).as_secs_f64() * 1e6,
        percentile(&lat, 0.99).as_secs_f64() * 1e6,
        lat[lat.len() - 1].as_secs_f64() * 1e6,
    );

    // Idle window at 1 s sampling with one WatchNodeGpus subscriber attached.
    let mut watch = client
        .watch_node_gpus(WatchNodeGpusRequest {
            node_name: String::new(),
            max_interval_ms: 1000,
        })
        .await?
        .into_inner();
    let drain = tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok(Some(_)) = watch.message().await {
            n += 1;
        }
        n
    });
    let hz = clock_ticks_per_second();
    let (t0, _, _) = proc_usage(pid)?;
    let start = Instant::now();
    tokio::time::sleep(o.window).await;
    let (t1, rss, hwm) = proc_usage(pid)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = (t1 - t0) as f64 / hz as f64;
    drop(agent);
    let messages = drain.await.unwrap_or(0);
    println!(
        "agent over {:.0} s idle at 1 s sampling (1 watch subscriber, {} messages): CPU {:.3} s per minute ({:.3}% of one core), RSS {:.1} MiB (peak {:.1} MiB)",
        secs,
        messages,
        cpu * 60.0 / secs,
        cpu / secs * 100.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
