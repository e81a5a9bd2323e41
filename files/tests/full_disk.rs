//! A full disk mid-download, on a real filesystem that runs out: the
//! fetcher's store lives on a 4 MiB tmpfs, and another writer fills it while
//! a paid download is running. The download stops with `disk_full`, keeps
//! what it verified (nothing in the store is corrupt, nothing is left in
//! `tmp/`), and once the space is freed it resumes without paying again for
//! a recorded block and ends byte-identical.
//!
//! Mounting needs root (the CI machine is root); without it the test fails
//! saying so. The mount is undone when the test ends, even by a panic.

#[path = "../../node/tests/common/mod.rs"]
mod common;
mod files_common;

use common::{Tmpfs, fill};
use files_common::{EDGE, PRICE, SERVICE_MS, await_providers, fetched_bytes, files_with, random_file};
use por_files::tree::{BLOCK_SIZE, block_count};
use por_files::{FetchError, FetchOptions, FixedRoutes, Progress};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_fills_the_disk_stops_keeps_its_blocks_and_resumes_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&tmp.path().join("disk"), "4m");
    let net = common::spawn_network(2).await;
    files_common::link(&net, 0, 1, 1, EDGE.latency_ms).await;
    let size = 12 * BLOCK_SIZE as usize + 5;
    let n = block_count(size as u64);
    let (path, data) = random_file(tmp.path(), "f.bin", size, 11).await;
    let provider = files_with(&net, 1, &tmp.path().join("p"), FixedRoutes::new(), |_| {}).await;
    let id = provider.add(&path).await.unwrap().id;
    let routes = FixedRoutes::new().with(net.route(&[0, 1], &[1], EDGE, SERVICE_MS));
    await_providers(&net, 0, &id, &[1]).await;
    // The store on the tmpfs, with no free-space floor: the disk itself says
    // when it is full.
    let store_dir = disk.dir.join("f");
    let fetcher = files_with(&net, 0, &store_dir, routes.clone(), |c| c.limits.min_free_bytes = 0).await;

    // One block at a time; the disk fills once some blocks are verified.
    let mut slow = FetchOptions::new(PRICE);
    slow.per_provider_in_flight = 1;
    slow.blocks_per_request = 1;
    let (tx, mut rx) = watch::channel(Progress::default());
    let f1 = fetcher.clone();
    let task = tokio::spawn(async move { f1.fetch(id, &slow, &tx).await });
    tokio::time::timeout(std::time::Duration::from_secs(60), rx.wait_for(|p| p.verified_blocks >= 1))
        .await
        .expect("progress within 60 s")
        .expect("the download is running");
    let filler = fill(&disk.dir);
    let e = task.await.unwrap().expect_err("the disk is full: the download cannot finish");
    assert!(matches!(e, FetchError::DiskFull(_)), "{e:?}");
    assert_eq!(e.code(), "disk_full");
    let fetched_before = fetcher.blocks_fetched();
    assert!(fetched_before > 0, "{:?}", rx.borrow());
    let root = fetcher.store().root().to_path_buf();
    assert!(!fetcher.store().has(&id), "no blob of a download that did not finish");
    let names = |d: &str| -> Vec<String> {
        std::fs::read_dir(root.join(d))
            .map(|r| r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    assert!(names("tmp").is_empty(), "nothing half-written is left: {:?}", names("tmp"));
    assert!(names("partial").iter().any(|n| n.ends_with(".data")), "the partial data is kept: {:?}", names("partial"));
    drop(fetcher);

    // Space again; the files layer starts again on the same store and
    // resumes: what it recorded is not fetched (nor paid) again.
    std::fs::remove_file(&filler).unwrap();
    let fetcher = files_with(&net, 0, &store_dir, routes, |c| c.limits.min_free_bytes = 0).await;
    let (tx, _rx) = watch::channel(Progress::default());
    let report = fetcher.fetch(id, &FetchOptions::new(PRICE), &tx).await.unwrap();
    eprintln!("resumed: {report:?} (fetched {fetched_before} before the disk filled)");
    assert!(report.resumed_blocks > 0, "the blocks recorded before the disk filled are reused");
    assert_eq!(report.fetched_blocks, n - report.resumed_blocks, "no recorded block is fetched again");
    assert!(fetched_bytes(&fetcher, &id) == data, "byte-identical");
    assert!(names("tmp").is_empty() && names("partial").is_empty(), "{:?} {:?}", names("tmp"), names("partial"));
    drop(fetcher);
    drop(disk);
}
