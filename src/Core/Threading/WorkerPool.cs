namespace KdumpSharp.Threading;

/// <summary>
/// One piece of work for a <see cref="WorkerPool"/>: run once, by a pool thread or by the thread that waits
/// for it. A failure is kept in <see cref="Error"/> for whoever takes the result, never thrown on a pool thread.
/// </summary>
internal abstract class PoolWork
{
    private volatile bool _done;

    public bool IsDone => _done;

    /// <summary>What <see cref="Execute"/> threw, on the last run.</summary>
    public Exception? Error { get; private set; }

    protected abstract void Execute();

    /// <summary>Marks the work as not done, before it is posted or run again.</summary>
    internal void Arm()
    {
        Error = null;
        _done = false;
    }

    /// <summary>Runs the work on this thread.</summary>
    internal void Run()
    {
        try
        {
            Execute();
        }
        catch (Exception e)
        {
            Error = e;
        }
        finally
        {
            _done = true;
        }
    }
}

/// <summary>
/// A fixed set of threads running work in the order it was posted, and a thread that, instead of sleeping
/// while it waits for one piece of work, runs whatever is queued (<see cref="HelpUntil"/>). A capture posts
/// both its page reads and its chunk compressions here, so with N threads of work there are never more than
/// N runnable threads. Separate reading and compressing threads (five on two CPUs) were preempted ~10,000
/// times in a 4 GiB level-31 capture and ~250,000 times at level 1, their waits spinning on the CPU the
/// awaited thread needed; with the pool, ~20 and ~170 times.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    private readonly Queue<PoolWork> _queue = new();
    private readonly object _gate = new();
    private readonly Thread[] _threads;
    private int _helpersWaiting;
    private bool _closed;

    /// <param name="threads">Pool threads (at least 1); the thread that waits is one more.</param>
    public WorkerPool(int threads, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        _threads = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(Work) { IsBackground = true, Name = $"{name}-{i}" };
            _threads[i].Start();
        }
    }

    /// <summary>Threads that can run work at once: the pool's and the one waiting.</summary>
    public int Concurrency => _threads.Length + 1;

    public void Post(PoolWork work)
    {
        work.Arm();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            _queue.Enqueue(work);
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Returns once <paramref name="work"/> is done, running queued work on this thread meanwhile.</summary>
    public void HelpUntil(PoolWork work)
    {
        while (!work.IsDone)
        {
            PoolWork? next = null;
            lock (_gate)
            {
                if (_queue.Count > 0)
                {
                    next = _queue.Dequeue();
                }
                else if (!work.IsDone)
                {
                    // A pool thread finishing any work takes the lock and wakes us, so the test above and this
                    // wait cannot miss the end of the work we wait for.
                    _helpersWaiting++;
                    Monitor.Wait(_gate);
                    _helpersWaiting--;
                }
            }
            next?.Run();
        }
    }

    private void Work()
    {
        while (true)
        {
            PoolWork work;
            lock (_gate)
            {
                while (_queue.Count == 0 && !_closed)
                    Monitor.Wait(_gate);
                if (_queue.Count == 0)
                    return;
                work = _queue.Dequeue();
            }
            work.Run();
            lock (_gate)
            {
                if (_helpersWaiting > 0)
                    Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>Runs what is queued, then stops the threads.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_closed)
                return;
            _closed = true;
            Monitor.PulseAll(_gate);
        }
        foreach (Thread t in _threads)
            t.Join();
    }
}
