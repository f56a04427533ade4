//! The host's figures: CPU, memory, the fill of the volumes the lake and the catalog live
//! on, and this process' resident memory and open files (sysinfo).

use std::path::{Path, PathBuf};

use sysinfo::{Disks, Pid, ProcessesToUpdate, System};

use super::state::StateGauges;

/// Reads the host; keeps sysinfo's state between samples (CPU use is a difference).
pub struct HostSampler {
    system: System,
    volumes: Vec<(String, PathBuf)>,
}

impl HostSampler {
    /// A sampler watching `volumes`: (name, a path on the volume), e.g. `("lake", root)`.
    pub fn new(volumes: Vec<(String, PathBuf)>) -> HostSampler {
        HostSampler {
            system: System::new(),
            volumes,
        }
    }

    /// Reads the host now and sets the gauges.
    pub fn sample(&mut self, gauges: &StateGauges) {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        gauges
            .host_cpu
            .with_label_values::<&str>(&[])
            .set(f64::from(self.system.global_cpu_usage()) / 100.0);
        gauges
            .host_memory
            .with_label_values(&["used"])
            .set(self.system.used_memory() as f64);
        gauges
            .host_memory
            .with_label_values(&["total"])
            .set(self.system.total_memory() as f64);
        let pid = Pid::from_u32(std::process::id());
        self.system
            .refresh_processes(ProcessesToUpdate::Some(&[pid]), false);
        if let Some(process) = self.system.process(pid) {
            gauges
                .process_resident_bytes
                .with_label_values::<&str>(&[])
                .set(process.memory() as f64);
            if let Some(files) = process.open_files() {
                gauges
                    .process_open_files
                    .with_label_values::<&str>(&[])
                    .set(files as f64);
            }
        }
        self.sample_volumes(gauges);
    }

    fn sample_volumes(&self, gauges: &StateGauges) {
        let disks = Disks::new_with_refreshed_list();
        gauges.volume_used_ratio.reset();
        gauges.volume_free_bytes.reset();
        for (name, path) in &self.volumes {
            let Some(disk) = volume_of(&disks, path) else {
                continue;
            };
            let total = disk.total_space();
            if total == 0 {
                continue;
            }
            let free = disk.available_space();
            let mount = disk.mount_point().display().to_string();
            gauges
                .volume_used_ratio
                .with_label_values(&[name, &mount])
                .set(1.0 - free as f64 / total as f64);
            gauges
                .volume_free_bytes
                .with_label_values(&[name, &mount])
                .set(free as f64);
        }
    }
}

/// The disk whose mount point is the longest prefix of `path` (its volume).
fn volume_of<'a>(disks: &'a Disks, path: &Path) -> Option<&'a sysinfo::Disk> {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    disks
        .list()
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_directory_has_a_volume_and_the_process_a_size() {
        let gauges = StateGauges::new();
        let dir = std::env::temp_dir();
        let mut sampler = HostSampler::new(vec![("lake".into(), dir)]);
        sampler.sample(&gauges);
        assert!(gauges.host_memory.with_label_values(&["total"]).get() > 0.0);
        assert!(
            gauges
                .process_resident_bytes
                .with_label_values::<&str>(&[])
                .get()
                > 0.0
        );
        let families = prometheus::core::Collector::collect(&gauges.volume_used_ratio);
        let ratio = families[0].get_metric()[0].get_gauge().get_value();
        assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    }
}
