//! The PostgreSQL [`ResponseStore`]: several replicas share one database, and a rolling update
//! or a killed pod loses nothing that was acknowledged.
//!
//! Shapes follow the memory store exactly (it is the reference; both pass
//! `agenthost_store::conformance`): rows are partitioned by user key (another user's row reads
//! as missing), a response and its item index are written in one transaction, history is derived
//! on read (a recursive query over `previous`, or the conversation's items), deletes leave a
//! tombstone. Retention: rows older than the TTL read as missing and are deleted by
//! [`PostgresStore::sweep`], which also trims the oldest responses beyond the count cap.
//!
//! Connections come from a `deadpool-postgres` pool; no lock of ours is held across a query.

mod schema;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use agenthost_platform::UserKey;
use agenthost_responses::{Conversation, Item, Response, ResponseStatus};
use agenthost_store::{
    Caller, HISTORY_LIMIT, HistorySource, Lookup, Page, PageQuery, Record, ResponseStore, StoreError, StoreStats,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::{Map, Value};
use tokio_postgres::GenericClient;
use tokio_postgres::types::Json;

pub use schema::SCHEMA_VERSION;

/// How the store connects and what it keeps.
#[derive(Clone)]
pub struct PostgresOptions {
    /// A libpq-style URL (`postgres://user@host:port/db?...`).
    pub url: String,
    /// Password when the URL has none (from `PGPASSWORD` or a file, read by the caller).
    pub password: Option<String>,
    /// Most pooled connections.
    pub max_connections: usize,
    /// How long a stored response or conversation is kept after its last write.
    pub ttl: Duration,
    /// Most responses kept; the oldest go first (enforced by [`PostgresStore::sweep`]).
    pub max_responses: usize,
    /// How long an unfinished response's lease lasts without renewal.
    pub lease: Duration,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions").field("url", &redact(&self.url)).field("ttl", &self.ttl).finish()
    }
}

/// `url` without its password, for logs and readiness.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparseable URL)".to_string(),
    }
}

/// Whether `url` is a URL PostgreSQL's client accepts (the error never repeats the password).
pub fn validate_url(url: &str) -> Result<(), String> {
    url.parse::<tokio_postgres::Config>().map(|_| ()).map_err(|e| e.to_string())
}

/// Writes a response and indexes its item ids, in one statement (stale ids of a rewritten
/// response stay indexed but resolve to nothing: `items` checks the record).
const PUT_RESPONSE: &str = "WITH r AS ( \
       INSERT INTO agenthost_responses \
         (id, user_key, conversation, previous, failed, response, input, deleted, written_at, lease_until) \
       VALUES ($1, $2, $3, $4, $5, $6, $7, false, now(), \
         CASE WHEN $8 THEN NULL ELSE now() + make_interval(secs => $9) END) \
       ON CONFLICT (id) DO UPDATE SET user_key = $2, conversation = $3, previous = $4, failed = $5, \
         response = $6, input = $7, deleted = false, written_at = now(), lease_until = EXCLUDED.lease_until \
       RETURNING id) \
     INSERT INTO agenthost_items (item_id, response_id, user_key) \
     SELECT item, (SELECT id FROM r), $2 FROM unnest($10::text[]) AS item \
     ON CONFLICT (item_id) DO UPDATE SET response_id = EXCLUDED.response_id, user_key = EXCLUDED.user_key";

/// The `NOTIFY` channel of cancel requests; the payload is the response id.
const CANCEL_CHANNEL: &str = "agenthost_cancel";

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    /// For the dedicated `LISTEN` connection.
    config: tokio_postgres::Config,
    ttl_secs: f64,
    max_responses: i64,
    lease_secs: f64,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Stats {
    responses: AtomicUsize,
    bytes: AtomicUsize,
    evictions: AtomicU64,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    // tokio-postgres errors name the server's message, never the connection string.
    StoreError::Unavailable(format!("postgres: {e}"))
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("postgres: {e}"))
}

impl PostgresStore {
    /// A store for `options`. No I/O: connections open on first use; call [`Self::migrate`]
    /// before serving.
    pub fn new(options: &PostgresOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config =
            options.url.parse().map_err(|e| StoreError::Unavailable(format!("invalid postgres URL: {e}")))?;
        if config.get_password().is_none()
            && let Some(password) = &options.password
        {
            config.password(password);
        }
        config.connect_timeout(Duration::from_secs(5));
        config.application_name("agenthost");
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(unavailable)?;
        Ok(PostgresStore {
            pool,
            config,
            ttl_secs: options.ttl.as_secs_f64(),
            max_responses: i64::try_from(options.max_responses).unwrap_or(i64::MAX),
            lease_secs: options.lease.as_secs_f64(),
            stats: Arc::default(),
        })
    }

    /// Applies the embedded schema under an advisory lock (replicas starting together wait for
    /// each other, then find it applied). Also the usability check: it fails when the database
    /// cannot be reached or written.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(unavailable)?;
        let tx = client.transaction().await.map_err(unavailable)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::LOCK_KEY]).await.map_err(unavailable)?;
        // A schema already at this version is left alone: even `CREATE INDEX IF NOT EXISTS`
        // takes a table lock, which would block (or deadlock with) the writes of replicas already
        // serving while this one starts in a rolling update.
        let exists: bool =
            tx.query_one("SELECT to_regclass('agenthost_schema') IS NOT NULL", &[]).await.map_err(unavailable)?.get(0);
        let current: Option<i32> = if exists {
            tx.query_one("SELECT max(version) FROM agenthost_schema", &[]).await.map_err(unavailable)?.get(0)
        } else {
            None
        };
        if current.is_none_or(|v| v < schema::SCHEMA_VERSION) {
            // "already exists, skipping" notices on every start are noise in the logs.
            tx.batch_execute("SET LOCAL client_min_messages = warning").await.map_err(unavailable)?;
            tx.batch_execute(schema::SQL).await.map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        self.sweep().await
    }

    /// Deletes rows past the TTL and the oldest responses beyond the cap, and refreshes the
    /// sizes [`ResponseStore::stats`] reports. Run periodically by the server.
    pub async fn sweep(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        let expired = client
            .execute(
                "DELETE FROM agenthost_responses WHERE written_at < now() - make_interval(secs => $1)",
                &[&self.ttl_secs],
            )
            .await
            .map_err(unavailable)?;
        client
            .execute(
                "DELETE FROM agenthost_conversations WHERE written_at < now() - make_interval(secs => $1)",
                &[&self.ttl_secs],
            )
            .await
            .map_err(unavailable)?;
        let trimmed = client
            .execute(
                "DELETE FROM agenthost_responses WHERE id IN (SELECT id FROM agenthost_responses \
                 ORDER BY written_at DESC OFFSET $1)",
                &[&self.max_responses],
            )
            .await
            .map_err(unavailable)?;
        self.stats.evictions.fetch_add(expired + trimmed, Ordering::Relaxed);
        let row = client
            .query_one(
                "SELECT count(*), coalesce(sum(pg_column_size(response) + pg_column_size(input)), 0)::bigint \
                 FROM agenthost_responses WHERE NOT deleted",
                &[],
            )
            .await
            .map_err(unavailable)?;
        let (count, bytes): (i64, i64) = (row.get(0), row.get(1));
        self.stats.responses.store(usize::try_from(count).unwrap_or(0), Ordering::Relaxed);
        self.stats.bytes.store(usize::try_from(bytes).unwrap_or(0), Ordering::Relaxed);
        Ok(())
    }

    /// Renews the leases of the unfinished responses this replica runs.
    pub async fn renew_leases(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        client
            .execute(
                "UPDATE agenthost_responses SET lease_until = now() + make_interval(secs => $2) \
                 WHERE id = ANY($1) AND lease_until IS NOT NULL",
                &[&ids, &self.lease_secs],
            )
            .await
            .map_err(unavailable)?;
        client
            .execute(
                "UPDATE agenthost_conversations SET claimed_until = now() + make_interval(secs => $2) \
                 WHERE claimed_by = ANY($1)",
                &[&ids, &self.lease_secs],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Claims `conversation` for `response_id` on every replica: `Ok(None)` when this response
    /// now holds it (or the conversation is not stored here), `Ok(Some(holder))` when another
    /// running response does. The claim lasts a lease, renewed with the run's
    /// ([`PostgresStore::renew_leases`]), so a replica that dies frees it.
    pub async fn claim_conversation(
        &self,
        user: &UserKey,
        conversation: &str,
        response_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "WITH target AS (SELECT claimed_by, claimed_until FROM agenthost_conversations \
                   WHERE user_key = $1 AND id = $2 FOR UPDATE), \
                 claimed AS (UPDATE agenthost_conversations SET claimed_by = $3, \
                   claimed_until = now() + make_interval(secs => $4) \
                   WHERE user_key = $1 AND id = $2 \
                   AND (claimed_by IS NULL OR claimed_by = $3 OR claimed_until < now()) RETURNING 1) \
                 SELECT (SELECT claimed_by FROM target), EXISTS (SELECT 1 FROM claimed)",
                &[&user.partition(), &conversation, &response_id, &self.lease_secs],
            )
            .await
            .map_err(unavailable)?;
        Ok(match row {
            Some(row) => {
                let (holder, won): (Option<String>, bool) = (row.get(0), row.get(1));
                if won { None } else { holder }
            }
            None => None,
        })
    }

    /// Releases `response_id`'s claim on `conversation` (if it still holds it).
    pub async fn release_conversation(
        &self,
        user: &UserKey,
        conversation: &str,
        response_id: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE agenthost_conversations SET claimed_by = NULL, claimed_until = NULL \
                 WHERE user_key = $1 AND id = $2 AND claimed_by = $3",
                &[&user.partition(), &conversation, &response_id],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Records SSE frames `first_seq..` of a background streaming response (frames already
    /// recorded are kept).
    pub async fn append_events(&self, response_id: &str, first_seq: i64, frames: &[String]) -> Result<(), StoreError> {
        if frames.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO agenthost_events (response_id, seq, frame) \
                 SELECT $1, $2 + n - 1, frame FROM unnest($3::text[]) WITH ORDINALITY AS t (frame, n) \
                 ON CONFLICT DO NOTHING",
                &[&response_id, &first_seq, &frames],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// At most `limit` recorded frames of `user`'s response from `from_seq`, in order;
    /// `Missing` for a response that is not theirs (or deleted).
    pub async fn events_after(
        &self,
        user: &UserKey,
        response_id: &str,
        from_seq: i64,
        limit: i64,
    ) -> Result<Lookup<Vec<String>>, StoreError> {
        let client = self.client().await?;
        let owned = client
            .query_opt(
                "SELECT 1 FROM agenthost_responses WHERE id = $1 AND user_key = $2 AND NOT deleted",
                &[&response_id, &user.partition()],
            )
            .await
            .map_err(unavailable)?;
        if owned.is_none() {
            return Ok(Lookup::Missing);
        }
        let rows = client
            .query(
                "SELECT frame FROM agenthost_events WHERE response_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                &[&response_id, &from_seq, &limit],
            )
            .await
            .map_err(unavailable)?;
        Ok(Lookup::Found(rows.iter().map(|r| r.get(0)).collect()))
    }

    /// Ends every unfinished response whose lease lapsed (its replica died) `failed` with
    /// `run_lost`; returns how many.
    pub async fn reap_lost_runs(&self) -> Result<u64, StoreError> {
        let error = serde_json::json!({
            "code": "run_lost",
            "message": "The server running this response stopped before it finished; send the request again.",
        });
        let client = self.client().await?;
        client
            .execute(
                "UPDATE agenthost_responses SET failed = true, lease_until = NULL, written_at = now(), \
                   response = jsonb_set(jsonb_set(response, '{status}', '\"failed\"'), '{error}', $1) \
                 WHERE lease_until < now() AND NOT deleted",
                &[&Json(error)],
            )
            .await
            .map_err(unavailable)
    }

    /// Asks whichever replica runs response `id` to cancel it (`NOTIFY`, delivered to every
    /// replica's [`Self::listen_for_cancels`] at once).
    pub async fn notify_cancel(&self, id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.execute("SELECT pg_notify($1, $2)", &[&CANCEL_CHANNEL, &id]).await.map_err(unavailable)?;
        Ok(())
    }

    /// Calls `on_cancel` with every response id another replica asks to cancel, over a dedicated
    /// `LISTEN` connection; reconnects with backoff when it drops. Runs until the task is dropped.
    pub async fn listen_for_cancels(&self, on_cancel: impl Fn(String) + Send) {
        let mut wait = Duration::from_millis(250);
        loop {
            match self.listen_once(&on_cancel).await {
                Ok(()) => wait = Duration::from_millis(250),
                Err(e) => tracing::warn!(code = e.code(), retry_in = ?wait, "cancel listener: {e}"),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    }

    async fn listen_once(&self, on_cancel: &(impl Fn(String) + Send)) -> Result<(), StoreError> {
        let (client, mut connection) = self.config.connect(tokio_postgres::NoTls).await.map_err(unavailable)?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // The connection yields notifications as messages; it must be polled to make progress.
        let driver = tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = futures::StreamExt::next(&mut messages).await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        if tx.send(n.payload().to_string()).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(unavailable(e)),
                }
            }
            Ok(())
        });
        client.batch_execute(&format!("LISTEN {CANCEL_CHANNEL}")).await.map_err(unavailable)?;
        while let Some(id) = rx.recv().await {
            on_cancel(id);
        }
        drop(client);
        driver.await.map_err(|e| unavailable(format!("listener task: {e}")))?
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }

    /// The visible row of `id` for `user`: `(response, input, conversation, conv_mark)`.
    async fn visible(
        &self,
        client: &impl GenericClient,
        user: &str,
        id: &str,
    ) -> Result<Lookup<(Response, Vec<Item>, Option<String>, i64)>, StoreError> {
        let row = client
            .query_opt(
                "SELECT deleted, response, input, conversation, conv_mark FROM agenthost_responses \
                 WHERE id = $1 AND user_key = $2 AND written_at >= now() - make_interval(secs => $3)",
                &[&id, &user, &self.ttl_secs],
            )
            .await
            .map_err(unavailable)?;
        let Some(row) = row else { return Ok(Lookup::Missing) };
        if row.get::<_, bool>(0) {
            return Ok(Lookup::Deleted);
        }
        let Json(response): Json<Response> = row.try_get(1).map_err(corrupt)?;
        let Json(input): Json<Vec<Item>> = row.try_get(2).map_err(corrupt)?;
        Ok(Lookup::Found((response, input, row.get(3), row.get(4))))
    }

    /// Records of the chain ending at `id` (newest first), `id` itself only when `include_start`.
    async fn chain(
        &self,
        client: &impl GenericClient,
        user: &str,
        id: &str,
        include_start: bool,
    ) -> Result<Vec<(bool, Response, Vec<Item>)>, StoreError> {
        let rows = client
            .query(
                "WITH RECURSIVE chain(id, previous, failed, response, input, depth) AS ( \
                   SELECT id, previous, failed, response, input, 0 FROM agenthost_responses \
                   WHERE id = $1 AND user_key = $2 AND NOT deleted \
                   UNION ALL \
                   SELECT r.id, r.previous, r.failed, r.response, r.input, c.depth + 1 \
                   FROM agenthost_responses r JOIN chain c ON r.id = c.previous \
                   WHERE r.user_key = $2 AND NOT r.deleted AND c.depth < $3 \
                 ) SELECT failed, response, input, depth FROM chain ORDER BY depth",
                &[&id, &user, &(HISTORY_LIMIT as i32 * 10)],
            )
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for row in rows {
            if !include_start && row.get::<_, i32>(3) == 0 {
                continue;
            }
            let Json(response): Json<Response> = row.try_get(1).map_err(corrupt)?;
            let Json(input): Json<Vec<Item>> = row.try_get(2).map_err(corrupt)?;
            out.push((row.get(0), response, input));
        }
        Ok(out)
    }

    /// The last [`HISTORY_LIMIT`] items of a conversation before `mark`, oldest first.
    async fn conversation_history(
        &self,
        client: &impl GenericClient,
        user: &str,
        conv: &str,
        mark: i64,
    ) -> Result<Vec<Item>, StoreError> {
        let rows = client
            .query(
                "SELECT i.item FROM agenthost_conversation_items i JOIN agenthost_conversations c \
                   ON c.user_key = i.user_key AND c.id = i.conversation \
                 WHERE i.user_key = $1 AND i.conversation = $2 AND i.seq < $3 \
                   AND c.written_at >= now() - make_interval(secs => $5) \
                 ORDER BY i.seq DESC LIMIT $4",
                &[&user, &conv, &mark, &(HISTORY_LIMIT as i64), &self.ttl_secs],
            )
            .await
            .map_err(unavailable)?;
        let mut items = rows
            .iter()
            .map(|r| r.try_get::<_, Json<Item>>(0).map(|Json(i)| i).map_err(corrupt))
            .collect::<Result<Vec<_>, _>>()?;
        items.reverse();
        Ok(items)
    }

    /// Whether `user` has conversation `id` (within the TTL).
    async fn has_conversation(&self, client: &impl GenericClient, user: &str, id: &str) -> Result<bool, StoreError> {
        Ok(client
            .query_opt(
                "SELECT 1 FROM agenthost_conversations WHERE user_key = $1 AND id = $2 \
                 AND written_at >= now() - make_interval(secs => $3)",
                &[&user, &id, &self.ttl_secs],
            )
            .await
            .map_err(unavailable)?
            .is_some())
    }

    /// Appends items to a conversation (locked), returning the first sequence number.
    async fn append(
        tx: &impl GenericClient,
        user: &str,
        conv: &str,
        items: &[Item],
        response: Option<&str>,
    ) -> Result<i64, StoreError> {
        let first: i64 = tx
            .query_one(
                "UPDATE agenthost_conversations SET next_seq = next_seq + $3, written_at = now() \
                 WHERE user_key = $1 AND id = $2 RETURNING next_seq - $3",
                &[&user, &conv, &(items.len() as i64)],
            )
            .await
            .map_err(unavailable)?
            .get(0);
        for (n, item) in items.iter().enumerate() {
            let value = serde_json::to_value(item).map_err(corrupt)?;
            tx.execute(
                "INSERT INTO agenthost_conversation_items (user_key, conversation, seq, item_id, response_id, item) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&user, &conv, &(first + n as i64), &item.id().unwrap_or_default(), &response, &Json(value)],
            )
            .await
            .map_err(unavailable)?;
        }
        Ok(first)
    }
}

/// History items from records collected newest first, oldest first and capped at
/// [`HISTORY_LIMIT`] (the memory store's rule).
fn history_items(records: Vec<(bool, Response, Vec<Item>)>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for (failed, response, input) in records {
        if failed {
            continue;
        }
        let own: Vec<Item> = input.into_iter().chain(response.output).collect();
        out.extend(own.into_iter().rev());
        if out.len() >= HISTORY_LIMIT {
            out.truncate(HISTORY_LIMIT);
            break;
        }
    }
    out.reverse();
    out
}

#[async_trait::async_trait]
impl ResponseStore for PostgresStore {
    async fn put(&self, _caller: &Caller, record: Record) -> Result<(), StoreError> {
        let user = record.user.partition();
        let response = &record.response;
        let finished = !matches!(response.status, ResponseStatus::Queued | ResponseStatus::InProgress);
        let failed = response.status == ResponseStatus::Failed;
        let joins = finished && !failed && !response.awaits_consent();
        let conversation = response.conversation.as_ref().map(|c| c.id.as_str());
        // Serialized straight into the statement's buffer, not through a `Value` tree first.
        let (response_json, input_json) = (Json(response), Json(&record.input));
        let item_ids: Vec<&str> = record.input.iter().chain(&response.output).filter_map(Item::id).collect();

        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] = [
            &response.id,
            &user,
            &conversation,
            &response.previous_response_id,
            &failed,
            &response_json,
            &input_json,
            &finished,
            &self.lease_secs,
            &item_ids,
        ];
        let mut client = self.client().await?;
        let Some(conv) = conversation else {
            // One statement, one round trip: atomic on its own.
            let statement = client.prepare_cached(PUT_RESPONSE).await.map_err(unavailable)?;
            client.execute(&statement, &params).await.map_err(unavailable)?;
            return Ok(());
        };
        let tx = client.transaction().await.map_err(unavailable)?;
        let statement = tx.prepare_cached(PUT_RESPONSE).await.map_err(unavailable)?;
        tx.execute(&statement, &params).await.map_err(unavailable)?;
        {
            let created = Conversation::new(conv.to_string(), response.created_at, Map::new());
            let body = serde_json::to_value(&created).map_err(corrupt)?;
            tx.execute(
                "INSERT INTO agenthost_conversations (user_key, id, body) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_key, id) DO NOTHING",
                &[&user, &conv, &Json(body)],
            )
            .await
            .map_err(unavailable)?;
            tx.execute(
                "DELETE FROM agenthost_conversation_items WHERE user_key = $1 AND conversation = $2 AND response_id = $3",
                &[&user, &conv, &response.id],
            )
            .await
            .map_err(unavailable)?;
            let mark = if joins {
                let items: Vec<Item> = record.input.iter().chain(&response.output).cloned().collect();
                Self::append(&*tx, user, conv, &items, Some(&response.id)).await?
            } else {
                tx.query_one(
                    "SELECT next_seq FROM agenthost_conversations WHERE user_key = $1 AND id = $2 FOR UPDATE",
                    &[&user, &conv],
                )
                .await
                .map_err(unavailable)?
                .get(0)
            };
            tx.execute("UPDATE agenthost_responses SET conv_mark = $2 WHERE id = $1", &[&response.id, &mark])
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn get(&self, caller: &Caller, id: &str) -> Result<Lookup<Arc<Record>>, StoreError> {
        let user = caller.user();
        let client = self.client().await?;
        Ok(match self.visible(&**client, user.partition(), id).await? {
            Lookup::Found((response, input, _, _)) => {
                Lookup::Found(Arc::new(Record { user: user.clone(), response, input }))
            }
            Lookup::Deleted => Lookup::Deleted,
            Lookup::Missing => Lookup::Missing,
        })
    }

    async fn delete(&self, caller: &Caller, id: &str) -> Result<Lookup<()>, StoreError> {
        let user = caller.user();
        let client = self.client().await?;
        match self.visible(&**client, user.partition(), id).await? {
            Lookup::Found(_) => {}
            Lookup::Deleted => return Ok(Lookup::Deleted),
            Lookup::Missing => return Ok(Lookup::Missing),
        }
        client
            .execute(
                "UPDATE agenthost_responses SET deleted = true, response = NULL, input = NULL WHERE id = $1 AND user_key = $2",
                &[&id, &user.partition()],
            )
            .await
            .map_err(unavailable)?;
        client.execute("DELETE FROM agenthost_items WHERE response_id = $1", &[&id]).await.map_err(unavailable)?;
        Ok(Lookup::Found(()))
    }

    async fn history(&self, caller: &Caller, source: HistorySource<'_>) -> Result<Lookup<Vec<Item>>, StoreError> {
        let user = caller.user();
        let client = self.client().await?;
        let user = user.partition();
        match source {
            HistorySource::Previous(id) => match self.visible(&**client, user, id).await? {
                Lookup::Found(_) => Ok(Lookup::Found(history_items(self.chain(&**client, user, id, true).await?))),
                _ => Ok(Lookup::Missing),
            },
            HistorySource::Conversation(conv) => {
                Ok(Lookup::Found(self.conversation_history(&**client, user, conv, i64::MAX).await?))
            }
        }
    }

    async fn input_items(&self, caller: &Caller, id: &str, page: &PageQuery) -> Result<Lookup<Page>, StoreError> {
        let user = caller.user();
        let client = self.client().await?;
        let user = user.partition();
        let (_, input, conversation, mark) = match self.visible(&**client, user, id).await? {
            Lookup::Found(v) => v,
            Lookup::Deleted => return Ok(Lookup::Deleted),
            Lookup::Missing => return Ok(Lookup::Missing),
        };
        let mut all = match conversation {
            Some(conv) => self.conversation_history(&**client, user, &conv, mark).await?,
            None => history_items(self.chain(&**client, user, id, false).await?),
        };
        all.extend(input);
        Ok(Lookup::Found(page.window(all)))
    }

    async fn items(&self, caller: &Caller, ids: &[String]) -> Result<Vec<Option<Item>>, StoreError> {
        let user = caller.user();
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT i.item_id, r.response, r.input FROM agenthost_items i \
                 JOIN agenthost_responses r ON r.id = i.response_id \
                 WHERE i.item_id = ANY($1) AND i.user_key = $2 AND NOT r.deleted",
                &[&ids, &user.partition()],
            )
            .await
            .map_err(unavailable)?;
        let mut found: Vec<(String, Item)> = Vec::new();
        for row in rows {
            let item_id: String = row.get(0);
            let Json(response): Json<Response> = row.try_get(1).map_err(corrupt)?;
            let Json(input): Json<Vec<Item>> = row.try_get(2).map_err(corrupt)?;
            if let Some(item) = input.into_iter().chain(response.output).find(|i| i.id() == Some(item_id.as_str())) {
                found.push((item_id, item));
            }
        }
        Ok(ids.iter().map(|id| found.iter().find(|(f, _)| f == id).map(|(_, item)| item.clone())).collect())
    }

    async fn create_conversation(
        &self,
        caller: &Caller,
        conversation: Conversation,
        items: Vec<Item>,
    ) -> Result<(), StoreError> {
        let user = caller.user().partition();
        let body = serde_json::to_value(&conversation).map_err(corrupt)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        tx.execute("DELETE FROM agenthost_conversations WHERE user_key = $1 AND id = $2", &[&user, &conversation.id])
            .await
            .map_err(unavailable)?;
        tx.execute(
            "INSERT INTO agenthost_conversations (user_key, id, body) VALUES ($1, $2, $3)",
            &[&user, &conversation.id, &Json(body)],
        )
        .await
        .map_err(unavailable)?;
        Self::append(&*tx, user, &conversation.id, &items, None).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn conversation(&self, caller: &Caller, id: &str) -> Result<Lookup<Conversation>, StoreError> {
        let user = caller.user();
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT body FROM agenthost_conversations WHERE user_key = $1 AND id = $2 \
                 AND written_at >= now() - make_interval(secs => $3)",
                &[&user.partition(), &id, &self.ttl_secs],
            )
            .await
            .map_err(unavailable)?;
        match row {
            Some(row) => Ok(Lookup::Found(row.try_get::<_, Json<Conversation>>(0).map_err(corrupt)?.0)),
            None => Ok(Lookup::Missing),
        }
    }

    async fn update_conversation(
        &self,
        caller: &Caller,
        id: &str,
        metadata: Map<String, Value>,
    ) -> Result<Lookup<Conversation>, StoreError> {
        let user = caller.user();
        let Lookup::Found(mut conversation) = self.conversation(caller, id).await? else { return Ok(Lookup::Missing) };
        conversation.metadata = metadata;
        let body = serde_json::to_value(&conversation).map_err(corrupt)?;
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE agenthost_conversations SET body = $3, written_at = now() WHERE user_key = $1 AND id = $2",
                &[&user.partition(), &id, &Json(body)],
            )
            .await
            .map_err(unavailable)?;
        Ok(if n == 1 { Lookup::Found(conversation) } else { Lookup::Missing })
    }

    async fn delete_conversation(&self, caller: &Caller, id: &str) -> Result<Lookup<()>, StoreError> {
        let user = caller.user();
        let client = self.client().await?;
        if !self.has_conversation(&**client, user.partition(), id).await? {
            return Ok(Lookup::Missing);
        }
        client
            .execute("DELETE FROM agenthost_conversations WHERE user_key = $1 AND id = $2", &[&user.partition(), &id])
            .await
            .map_err(unavailable)?;
        Ok(Lookup::Found(()))
    }

    async fn add_conversation_items(
        &self,
        caller: &Caller,
        id: &str,
        items: Vec<Item>,
    ) -> Result<Lookup<()>, StoreError> {
        let user = caller.user();
        let mut client = self.client().await?;
        if !self.has_conversation(&**client, user.partition(), id).await? {
            return Ok(Lookup::Missing);
        }
        let tx = client.transaction().await.map_err(unavailable)?;
        Self::append(&*tx, user.partition(), id, &items, None).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Lookup::Found(()))
    }

    async fn conversation_items(
        &self,
        caller: &Caller,
        id: &str,
        page: &PageQuery,
    ) -> Result<Lookup<Page>, StoreError> {
        let user = caller.user();
        let client = self.client().await?;
        if !self.has_conversation(&**client, user.partition(), id).await? {
            return Ok(Lookup::Missing);
        }
        let rows = client
            .query(
                "SELECT item FROM agenthost_conversation_items WHERE user_key = $1 AND conversation = $2 ORDER BY seq",
                &[&user.partition(), &id],
            )
            .await
            .map_err(unavailable)?;
        let items = rows
            .iter()
            .map(|r| r.try_get::<_, Json<Item>>(0).map(|Json(i)| i).map_err(corrupt))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Lookup::Found(page.window(items)))
    }

    async fn conversation_item(
        &self,
        caller: &Caller,
        id: &str,
        item_id: &str,
    ) -> Result<Lookup<Option<Item>>, StoreError> {
        let user = caller.user();
        let client = self.client().await?;
        if !self.has_conversation(&**client, user.partition(), id).await? {
            return Ok(Lookup::Missing);
        }
        let row = client
            .query_opt(
                "SELECT item FROM agenthost_conversation_items WHERE user_key = $1 AND conversation = $2 AND item_id = $3 \
                 ORDER BY seq LIMIT 1",
                &[&user.partition(), &id, &item_id],
            )
            .await
            .map_err(unavailable)?;
        match row {
            Some(row) => Ok(Lookup::Found(Some(row.try_get::<_, Json<Item>>(0).map_err(corrupt)?.0))),
            None => Ok(Lookup::Found(None)),
        }
    }

    async fn delete_conversation_item(
        &self,
        caller: &Caller,
        id: &str,
        item_id: &str,
    ) -> Result<Lookup<Option<Conversation>>, StoreError> {
        let user = caller.user();
        let Lookup::Found(conversation) = self.conversation(caller, id).await? else { return Ok(Lookup::Missing) };
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM agenthost_conversation_items WHERE user_key = $1 AND conversation = $2 AND item_id = $3",
                &[&user.partition(), &id, &item_id],
            )
            .await
            .map_err(unavailable)?;
        Ok(Lookup::Found((n > 0).then_some(conversation)))
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            responses: self.stats.responses.load(Ordering::Relaxed),
            bytes: self.stats.bytes.load(Ordering::Relaxed),
            evictions: self.stats.evictions.load(Ordering::Relaxed),
        }
    }
}
