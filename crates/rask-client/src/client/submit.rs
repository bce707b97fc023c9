//! Eager tasks: [`Client::submit`] and its relatives, the [`Submitter`]
//! that sets one task's options, waiting on futures (`gather`, `wait`,
//! `as_completed`, `cancel`), and [`get_client`] inside a running task.

use super::*;

impl Client {
    /// Options for the next task: `client.task().retries(2).submit(f, args)`.
    pub fn task(&self) -> Submitter<'_> {
        Submitter {
            client: self,
            opts: TaskOptions::default(),
            invalid: None,
        }
    }

    /// Runs `f(args...)` on the pool now; futures in `args` are dependencies.
    pub fn submit<F, A>(&self, f: F, args: A) -> Future<F::Output>
    where
        A: FutureArgs,
        F: TaskFn<A::Values>,
        F::Output: Data,
    {
        self.task().submit(f, args)
    }

    /// As [`Client::submit`], for a function returning `Result<T, E>`.
    pub fn try_submit<F, A, T, E>(&self, f: F, args: A) -> Future<T>
    where
        A: FutureArgs,
        F: TaskFn<A::Values, Output = std::result::Result<T, E>>,
        T: Data,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        self.task().try_submit(f, args)
    }

    /// Runs the future that `f(args...)` returns on the client's async
    /// runtime (never on the compute threads).
    pub fn submit_async<F, A>(
        &self,
        f: F,
        args: A,
    ) -> Future<<F::Output as std::future::Future>::Output>
    where
        A: FutureArgs,
        F: TaskFn<A::Values>,
        F::Output: std::future::Future + Send + 'static,
        <F::Output as std::future::Future>::Output: Data,
    {
        self.task().submit_async(f, args)
    }

    /// As [`Client::submit_async`], for futures of `Result<T, E>`.
    pub fn try_submit_async<F, A, T, E>(&self, f: F, args: A) -> Future<T>
    where
        A: FutureArgs,
        F: TaskFn<A::Values>,
        F::Output: std::future::Future<Output = std::result::Result<T, E>> + Send + 'static,
        T: Data,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        self.task().try_submit_async(f, args)
    }

    /// Runs `f(item)` for every item, one task each.
    pub fn map<F, I, R>(&self, f: F, items: impl IntoIterator<Item = I>) -> Vec<Future<R>>
    where
        F: Fn(I) -> R + Send + Sync + 'static,
        I: Clone + Send + Sync + 'static,
        R: Data,
    {
        self.task().map(f, items)
    }

    /// Waits for every future; the first error (in list order) is returned.
    pub fn gather<T: Data>(&self, futures: &[Future<T>]) -> Result<Vec<T>> {
        wait::gather(futures, OnError::Raise)
    }

    /// Waits for every future; `OnError::Skip` leaves failed ones out.
    pub fn gather_with<T: Data>(&self, futures: &[Future<T>], on_error: OnError) -> Result<Vec<T>> {
        wait::gather(futures, on_error)
    }

    /// As [`Client::gather_with`], awaiting (for use inside async code).
    pub async fn gather_async<T: Data>(
        &self,
        futures: &[Future<T>],
        on_error: OnError,
    ) -> Result<Vec<T>> {
        wait::gather_async(futures, on_error).await
    }

    /// Waits until all or the first of `futures` completed, or `timeout`
    /// passed (a zero timeout is refused).
    pub fn wait<T>(
        &self,
        futures: &[Future<T>],
        mode: WaitFor,
        timeout: Option<Duration>,
    ) -> Result<WaitResult> {
        wait::wait(futures, mode, timeout)
    }

    /// As [`Client::wait`], awaiting.
    pub async fn wait_async<T>(
        &self,
        futures: &[Future<T>],
        mode: WaitFor,
        timeout: Option<Duration>,
    ) -> Result<WaitResult> {
        wait::wait_async(futures, mode, timeout).await
    }

    /// Yields futures as they complete; more can be added while iterating.
    pub fn as_completed<T: Send + 'static>(
        &self,
        futures: impl IntoIterator<Item = Future<T>>,
    ) -> AsCompleted<T> {
        AsCompleted::new(futures)
    }

    /// Cancels each future (and what depends on it); returns how many were.
    pub fn cancel<T>(&self, futures: &[Future<T>]) -> usize {
        futures.iter().filter(|f| f.cancel()).count()
    }

    /// Fails every unfinished future with [`Error::ClientShutdown`], stops
    /// the async runtime and refuses new eager tasks. Graphs still compute.
    pub fn shutdown(&self) {
        self.core.shutdown();
    }

    /// Whether [`Client::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.core.shutdown.load(Ordering::Acquire)
    }

    /// Starts a cell; `false` (and the cell failed) once shut down.
    pub(super) fn start_cell(&self, cell: &Arc<Cell>) -> bool {
        if self.core.is_shut_down() {
            cell.complete(Err(Error::ClientShutdown {
                key: cell.key.clone(),
            }));
            return false;
        }
        cell.start();
        true
    }

    fn new_task(
        &self,
        opts: TaskOptions,
        default_key: Key,
        deps: Vec<Arc<Cell>>,
        body: Body,
    ) -> Arc<Cell> {
        let key = opts.key.clone().unwrap_or(default_key);
        if matches!(self.core.flavor, Flavor::Cluster(..)) && matches!(body, Body::Compute(_)) {
            // A closure cannot cross into a worker process.
            let cell = Cell::new(
                &self.core,
                key.clone(),
                Vec::new(),
                Body::External(None),
                opts,
                None,
            );
            cell.complete(Err(Error::Task(Arc::new(TaskError {
                key,
                kind: TaskErrorKind::NotRegistered,
                message: "eager tasks on worker processes are calls of #[rask::task] functions \
                          made with `f::submit(&client, ..)`; closures run on Client::threads() \
                          or Client::sync()"
                    .to_owned(),
                backtrace: None,
                attempt: 1,
                cause: None,
            }))));
            return cell;
        }
        let cell = Cell::new(&self.core, key, deps, body, opts, self.events.clone());
        self.start_cell(&cell);
        cell
    }
}

/// The client of the task or async task running on this thread.
///
/// Inside a task, `get_client()?.submit(...)` starts more work; waiting on it
/// (`result()`, `gather`) lets the worker run other tasks meanwhile, so a
/// pool of any size does not deadlock.
pub fn get_client() -> Result<Client> {
    if let Some(ctx) = rask_local::current_context() {
        if let Ok(core) = ctx.downcast::<Core>() {
            return Ok(Client::from_core(core));
        }
    }
    if let Some(core) = runtime_core() {
        return Ok(Client::from_core(core));
    }
    if let Some(c) = crate::runtime::async_fn_client() {
        return Ok(c);
    }
    if let Some(core) = SYNC_CORE.with(|c| c.borrow().as_ref().and_then(Weak::upgrade)) {
        return Ok(Client::from_core(core));
    }
    Err(Error::InvalidArgument(
        "get_client() was called outside a task of a client".into(),
    ))
}

/// Settings for one submitted task; see [`Client::task`].
pub struct Submitter<'c> {
    client: &'c Client,
    opts: TaskOptions,
    invalid: Option<String>,
}

impl std::fmt::Debug for Submitter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submitter")
            .field("opts", &self.opts)
            .finish()
    }
}

impl Submitter<'_> {
    /// The task's key (default: the function's name and a unique token).
    pub fn key(mut self, key: impl Into<Key>) -> Self {
        self.opts.key = Some(key.into());
        self
    }

    /// Runs the task again up to `n` more times if it fails.
    pub fn retries(mut self, n: u32) -> Self {
        self.opts.task.retries = n;
        self
    }

    /// Retries only these kinds of failure (default: all).
    pub fn retry_on(mut self, kinds: rask_core::RetryOn) -> Self {
        self.opts.task.retry_on = kinds;
        self
    }

    /// Retries only errors that `pred` accepts.
    pub fn retry_if(
        mut self,
        pred: impl Fn(&rask_core::TaskError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.opts.task.retry_if = Some(Arc::new(pred));
        self
    }

    /// Fails an attempt that runs longer than `t` (zero is refused).
    pub fn timeout(mut self, t: Duration) -> Self {
        if t.is_zero() {
            self.invalid = Some("a task timeout must be longer than zero".into());
        }
        self.opts.task.timeout = Some(t);
        self
    }

    /// Higher priorities run first among ready tasks (default 0).
    pub fn priority(mut self, p: i32) -> Self {
        self.opts.task.priority = p;
        self
    }

    fn make<T>(self, default_key: Key, deps: Vec<Arc<Cell>>, body: Body) -> Future<T> {
        if let Some(why) = self.invalid {
            let key = self.opts.key.clone().unwrap_or(default_key);
            let cell = Cell::new(
                &self.client.core,
                key,
                Vec::new(),
                Body::External(None),
                TaskOptions::default(),
                None,
            );
            cell.complete(Err(Error::InvalidArgument(why)));
            return Future::from_cell(cell);
        }
        Future::from_cell(self.client.new_task(self.opts, default_key, deps, body))
    }

    /// See [`Client::submit`].
    pub fn submit<F, A>(self, f: F, args: A) -> Future<F::Output>
    where
        A: FutureArgs,
        F: TaskFn<A::Values>,
        F::Output: Data,
    {
        let mut deps = DepList::default();
        let shape = args.push_cells(&mut deps);
        let deps = deps.0;
        let body = Body::Compute(Box::new(move |inputs| {
            let values = rask_core::Fetch::fetch(&shape, inputs)?;
            Ok(Arc::new(f.call(values)) as Value)
        }));
        self.make(Key::anonymous(std::any::type_name::<F>()), deps, body)
    }

    /// See [`Client::try_submit`].
    pub fn try_submit<F, A, T, E>(self, f: F, args: A) -> Future<T>
    where
        A: FutureArgs,
        F: TaskFn<A::Values, Output = std::result::Result<T, E>>,
        T: Data,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let mut deps = DepList::default();
        let shape = args.push_cells(&mut deps);
        let deps = deps.0;
        let body = Body::Compute(Box::new(move |inputs| {
            let values = rask_core::Fetch::fetch(&shape, inputs)?;
            match f.call(values) {
                Ok(v) => Ok(Arc::new(v) as Value),
                Err(e) => Err(rask_core::TaskFailure::from_error(e)),
            }
        }));
        self.make(Key::anonymous(std::any::type_name::<F>()), deps, body)
    }

    /// See [`Client::submit_async`].
    pub fn submit_async<F, A>(
        self,
        f: F,
        args: A,
    ) -> Future<<F::Output as std::future::Future>::Output>
    where
        A: FutureArgs,
        F: TaskFn<A::Values>,
        F::Output: std::future::Future + Send + 'static,
        <F::Output as std::future::Future>::Output: Data,
    {
        let mut deps = DepList::default();
        let shape = args.push_cells(&mut deps);
        let deps = deps.0;
        let body = Body::Async(Box::new(move |inputs, launch| {
            let values = rask_core::Fetch::fetch(&shape, inputs)?;
            let fut = f.call(values);
            Ok(launch.spawn(MapOutput::new(fut, |v| Ok(Arc::new(v) as Value))))
        }));
        self.make(Key::anonymous(std::any::type_name::<F>()), deps, body)
    }

    /// As [`Submitter::submit_async`], for futures of `Result<T, E>`.
    pub fn try_submit_async<F, A, T, E>(self, f: F, args: A) -> Future<T>
    where
        A: FutureArgs,
        F: TaskFn<A::Values>,
        F::Output: std::future::Future<Output = std::result::Result<T, E>> + Send + 'static,
        T: Data,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let mut deps = DepList::default();
        let shape = args.push_cells(&mut deps);
        let deps = deps.0;
        let body = Body::Async(Box::new(move |inputs, launch| {
            let values = rask_core::Fetch::fetch(&shape, inputs)?;
            let fut = f.call(values);
            Ok(launch.spawn(MapOutput::new(
                fut,
                |r: std::result::Result<T, E>| match r {
                    Ok(v) => Ok(Arc::new(v) as Value),
                    Err(e) => Err(rask_core::TaskFailure::from_error(e)),
                },
            )))
        }));
        self.make(Key::anonymous(std::any::type_name::<F>()), deps, body)
    }

    /// See [`Client::map`]; tasks are keyed `(function name, index)`.
    pub fn map<F, I, R>(self, f: F, items: impl IntoIterator<Item = I>) -> Vec<Future<R>>
    where
        F: Fn(I) -> R + Send + Sync + 'static,
        I: Clone + Send + Sync + 'static,
        R: Data,
    {
        let f = Arc::new(f);
        let name = rask_core::Name::TypeName(std::any::type_name::<F>());
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let f = f.clone();
                let sub = Submitter {
                    client: self.client,
                    opts: self.opts.clone(),
                    invalid: self.invalid.clone(),
                };
                let sub = if self.opts.key.is_some() {
                    sub
                } else {
                    sub.key(Key::indexed(name.clone(), i as u64))
                };
                sub.submit(move || f(item.clone()), ())
            })
            .collect()
    }
}
