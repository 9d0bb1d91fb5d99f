//! Model serving: load (through a cache), predict, evaluate, under an admission limit. The
//! HTTP handlers (native, V2, multi-model, evaluation, drawings) only parse, call this and
//! answer, so every path predicts with the same code.

mod error;
mod evaluate;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;
use ndarray::Array2;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::jobs::Jobs;
use crate::nn::io::from_safetensors;
use crate::nn::loss::argmax;
use crate::nn::{MatMul, Network};
use crate::store::Store;

pub use error::ServeError;
pub use evaluate::{EvalItem, EvalSet, Evaluation, LeaderboardEntry, MAX_LEADERBOARD_MODELS};

/// Models one multi-model prediction may ask.
pub const MAX_MODELS: usize = 8;
/// Heavy requests that may wait for a permit, per permit.
pub const HEAVY_WAITING_PER_PERMIT: usize = 4;
/// How long a heavy request waits for a permit before it is refused.
pub const HEAVY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// Row x model products up to this run inline on the async thread (a hop to the blocking
/// pool costs more than they do); larger ones on the blocking pool, under a permit.
const INLINE_WORK: usize = 64;

/// The most probable class and every class's probability.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Prediction {
    pub label: usize,
    pub probabilities: Vec<f32>,
}

pub struct Models {
    store: Arc<dyn Store>,
    jobs: Arc<Jobs>,
    /// Loaded models, least recently used evicted first.
    cache: Mutex<LruCache<String, Arc<Network>>>,
    /// Shared with the other CPU-heavy requests (`--max-heavy-requests` permits).
    heavy: Arc<Semaphore>,
    heavy_limit: usize,
    /// Requests waiting for a heavy permit.
    waiting: AtomicUsize,
    /// `--max-drawings`: what an evaluation on drawings reads at most.
    max_drawings: usize,
}

impl Models {
    pub fn new(
        store: Arc<dyn Store>,
        jobs: Arc<Jobs>,
        cache: usize,
        heavy: Arc<Semaphore>,
        max_drawings: usize,
    ) -> Self {
        Models {
            store,
            jobs,
            cache: Mutex::new(LruCache::new(NonZeroUsize::new(cache.max(1)).expect("at least one"))),
            heavy_limit: heavy.available_permits().max(1),
            heavy,
            waiting: AtomicUsize::new(0),
            max_drawings,
        }
    }

    /// A permit to run CPU-heavy work: at once if one of the `--max-heavy-requests` is free,
    /// else after a short wait in a bounded line ([`HEAVY_WAITING_PER_PERMIT`] per permit, at
    /// most [`HEAVY_WAIT`]), so that a burst of drawings is served in turn rather than
    /// refused, while a flood is refused (`Busy`) without queueing work.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, ServeError> {
        if let Ok(permit) = Arc::clone(&self.heavy).try_acquire_owned() {
            return Ok(permit);
        }
        // Leaves the line when dropped: also when the client goes away mid-wait.
        struct InLine<'a>(&'a AtomicUsize);
        impl Drop for InLine<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _in_line = InLine(&self.waiting);
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.heavy_limit * HEAVY_WAITING_PER_PERMIT {
            return Err(ServeError::Busy);
        }
        let permit = tokio::time::timeout(HEAVY_WAIT, Arc::clone(&self.heavy).acquire_owned()).await;
        match permit {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ServeError::Busy),
        }
    }

    /// The loaded network of a model, from the cache or the database (then cached).
    pub async fn load(&self, id: &str) -> Result<Arc<Network>, ServeError> {
        if let Some(net) = self.cache.lock().expect("model cache lock").get(id) {
            return Ok(Arc::clone(net));
        }
        let net = self.load_uncached(id).await?;
        self.cache
            .lock()
            .expect("model cache lock")
            .put(id.to_string(), Arc::clone(&net));
        Ok(net)
    }

    /// A model from the cache, or from the database without caching it: for passes over
    /// many models (the leaderboard), which would otherwise evict the ones being served.
    async fn load_uncached(&self, id: &str) -> Result<Arc<Network>, ServeError> {
        if let Some(net) = self.cache.lock().expect("model cache lock").peek(id) {
            return Ok(Arc::clone(net));
        }
        let bytes = self
            .store
            .model_weights(id)
            .await?
            .ok_or_else(|| ServeError::NotFound(id.to_string()))?;
        let net = tokio::task::spawn_blocking(move || from_safetensors(&bytes))
            .await
            .map_err(anyhow::Error::from)?
            .map_err(|e| anyhow::anyhow!("stored model {id} does not load: {e}"))?;
        Ok(Arc::new(net))
    }

    /// 1..=[`MAX_MODELS`] models that can all take one input: an unknown one or one of
    /// another input size is `Invalid` naming `model_ids[i]`.
    pub async fn load_several(&self, ids: &[String]) -> Result<Vec<Arc<Network>>, ServeError> {
        if !(1..=MAX_MODELS).contains(&ids.len()) {
            return Err(ServeError::invalid(
                "model_ids",
                format!("give 1..={MAX_MODELS} model ids"),
            ));
        }
        let mut nets: Vec<Arc<Network>> = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let field = format!("model_ids[{i}]");
            let net = self.load(id).await.map_err(|e| match e {
                ServeError::NotFound(_) => ServeError::invalid(&field, format!("no model with id {id}")),
                e => e,
            })?;
            if let Some(first) = nets.first().map(|n| n.spec.input_size)
                && net.spec.input_size != first
            {
                return Err(ServeError::invalid(
                    field,
                    format!(
                        "takes {} inputs, model_ids[0] takes {first}: one input cannot suit both",
                        net.spec.input_size
                    ),
                ));
            }
            nets.push(net);
        }
        Ok(nets)
    }

    /// Drops a deleted model from the cache.
    pub fn forget(&self, id: &str) {
        self.cache.lock().expect("model cache lock").pop(id);
    }

    /// Each network's predictions for every row of `x` ([N, input_size]), in order.
    pub async fn predict(&self, nets: &[Arc<Network>], x: Array2<f32>) -> Result<Vec<Vec<Prediction>>, ServeError> {
        if x.nrows() * nets.len() <= INLINE_WORK {
            return Ok(nets.iter().map(|net| predict_rows(net, &x)).collect());
        }
        let _permit = self.admit().await?;
        let nets = nets.to_vec();
        let answers = tokio::task::spawn_blocking(move || nets.iter().map(|net| predict_rows(net, &x)).collect())
            .await
            .map_err(anyhow::Error::from)?;
        Ok(answers)
    }
}

/// One row takes the batch-1 matrix-vector path, more rows the batched one.
fn predict_rows(net: &Network, x: &Array2<f32>) -> Vec<Prediction> {
    let probabilities: Vec<Vec<f32>> = if x.nrows() == 1 {
        vec![net.predict_one(x.row(0).as_slice().expect("a standard-layout row"))]
    } else {
        net.predict_proba(x.view(), &MatMul::single())
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect()
    };
    probabilities
        .into_iter()
        .map(|p| Prediction {
            // The first most probable class: ties go to the lower index.
            label: argmax(&p),
            probabilities: p,
        })
        .collect()
}
