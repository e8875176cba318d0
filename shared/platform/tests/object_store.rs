//! Both object store adapters pass the same behavioural suite: the S3 one through the real AWS SDK against
//! moto server, the local one on a temporary directory.

use std::sync::Arc;

use mde_platform::objects::{LocalObjectStore, S3ObjectStore};
use mde_platform::testing;

#[tokio::test]
async fn local_directory_passes_the_object_store_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    testing::object_store_suite(Arc::new(LocalObjectStore::new(dir.path(), "exports"))).await;
}

#[tokio::test]
async fn s3_passes_the_object_store_suite() {
    let sdk = testing::aws_sdk_config().await;
    let client = mde_platform::aws::s3_client(&sdk, &endpoint_settings());
    let bucket = testing::unique_name("objects");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket in moto");
    testing::object_store_suite(Arc::new(S3ObjectStore::new(client, bucket, "exports"))).await;
}

#[tokio::test]
async fn a_local_write_never_leaves_a_partial_object_visible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalObjectStore::new(dir.path(), "");
    let big = bytes::Bytes::from(vec![7u8; 4 << 20]);
    let writer = {
        let store = store.clone();
        let big = big.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                use mde_platform::ObjectStore;
                store
                    .put("big.bin", big.clone(), mde_platform::PutCondition::Always)
                    .await
                    .expect("put");
            }
        })
    };
    use mde_platform::ObjectStore;
    while !writer.is_finished() {
        if let Some(obj) = store.get("big.bin").await.expect("get") {
            assert_eq!(obj.body.len(), big.len(), "a reader sees a whole object or none");
        }
    }
    writer.await.expect("writer");
    assert_eq!(
        store.list("").await.expect("list"),
        vec!["big.bin".to_string()],
        "no temporary files listed"
    );
}

fn endpoint_settings() -> mde_contracts::AwsSettings {
    mde_contracts::AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(testing::aws_endpoint().parse().expect("endpoint URL")),
    }
}
