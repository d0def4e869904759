using KdumpSharp.Threading;

namespace KdumpSharp.Tests.Threading;

public class WorkerPoolTests
{
    private sealed class Recorded(Action? body = null) : PoolWork
    {
        public int ThreadId { get; private set; }
        public int Runs { get; private set; }

        protected override void Execute()
        {
            ThreadId = Environment.CurrentManagedThreadId;
            Runs++;
            body?.Invoke();
        }
    }

    [Test]
    public void Every_posted_work_runs_once_and_is_done_when_help_until_returns()
    {
        using var pool = new WorkerPool(3, "test");
        var works = Enumerable.Range(0, 2000).Select(_ => new Recorded()).ToList();
        foreach (Recorded w in works)
            pool.Post(w);
        foreach (Recorded w in works)
        {
            pool.HelpUntil(w);
            Assert.That(w.IsDone, Is.True);
        }
        Assert.That(works.Select(w => w.Runs), Is.All.EqualTo(1));
    }

    [Test]
    public void The_waiting_thread_runs_queued_work_while_the_pool_threads_are_busy()
    {
        using var release = new ManualResetEventSlim();
        using var pool = new WorkerPool(1, "test");
        var blocker = new Recorded(() => release.Wait());
        var next = new Recorded();
        pool.Post(blocker);
        // The pool's only thread is held by the blocker; the work behind it can only run on this thread.
        SpinWait.SpinUntil(() => blocker.ThreadId != 0);
        pool.Post(next);

        pool.HelpUntil(next);

        Assert.That(next.ThreadId, Is.EqualTo(Environment.CurrentManagedThreadId));
        Assert.That(blocker.IsDone, Is.False);
        release.Set();
        pool.HelpUntil(blocker);
        Assert.That(blocker.ThreadId, Is.Not.EqualTo(Environment.CurrentManagedThreadId));
    }

    [Test]
    public void A_failure_is_kept_on_the_work_not_thrown_on_a_pool_thread()
    {
        using var pool = new WorkerPool(2, "test");
        var failing = new Recorded(() => throw new InvalidDataException("bad chunk"));
        var after = new Recorded();
        pool.Post(failing);
        pool.Post(after);

        pool.HelpUntil(failing);
        pool.HelpUntil(after);

        Assert.That(failing.Error, Is.InstanceOf<InvalidDataException>());
        Assert.That(after.Error, Is.Null);
        Assert.That(after.Runs, Is.EqualTo(1), "the pool keeps working after a failure");
    }

    [Test]
    public void Work_can_be_posted_again_once_done()
    {
        using var pool = new WorkerPool(1, "test");
        var work = new Recorded(() => { });
        for (int i = 0; i < 3; i++)
        {
            pool.Post(work);
            pool.HelpUntil(work);
        }
        Assert.That(work.Runs, Is.EqualTo(3));
    }

    [Test]
    public void Dispose_runs_what_is_queued_then_refuses_more()
    {
        var works = Enumerable.Range(0, 50).Select(_ => new Recorded(() => Thread.Sleep(1))).ToList();
        var pool = new WorkerPool(2, "test");
        foreach (Recorded w in works)
            pool.Post(w);

        pool.Dispose();

        Assert.That(works.Select(w => w.Runs), Is.All.EqualTo(1));
        Assert.Throws<ObjectDisposedException>(() => pool.Post(new Recorded()));
    }
}
