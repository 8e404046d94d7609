// Cross-entropy from logits, per row of (rows, vocab), mean over the rows whose target is not IgnoreIndex:
//   loss_r = logsumexp(x_r) − x_r[t_r] = m + log Σ exp(x − m) − x[t],   m = max(x_r)        (FP32 per row)
//   L = (1 / valid) · Σ_r loss_r                                                          (FP64 over rows)
// Backward:  dlogits_r = (softmax(x_r) − onehot(t_r)) · dL / valid;  ignored rows get zeros.
// ForwardBackward: both in one pass per row (training): max, then exp(x − m) stored into dlogits while summing,
// then one scale; the logits are read from memory once and exp is evaluated once per element (Forward + Backward
// read them three times and evaluate exp twice). dlogits may be the logits buffer itself (in place).
using System.Runtime.CompilerServices;

namespace SharpSeek.Numerics;

public static unsafe class CrossEntropy
{
    /// <summary>Target value that marks a row as padding (skipped in the mean and given zero gradient), as PyTorch's default.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>Returns the mean loss; losses (rows) receives each row's loss (0 for ignored rows).</summary>
    public static double Forward(int rows, int vocab, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> losses,
        WorkerPool? pool = null) => Forward(rows, vocab, logits, targets, losses, Simd.Active, pool);

    public static double Forward(int rows, int vocab, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> losses,
        SimdLevel level, WorkerPool? pool = null)
    {
        int valid = Check(rows, vocab, logits.Length, targets);
        RowChecks.Vector(rows, losses.Length, nameof(losses));
        fixed (float* px = logits) fixed (int* pt = targets) fixed (float* pl = losses)
        {
            var job = new ForwardJob { Vocab = vocab, Logits = px, Targets = pt, Losses = pl };
            RowsDispatch.Run(pool, level, rows, vocab, ref job);
        }
        double total = 0;
        for (int r = 0; r < rows; r++) total += losses[r];
        return valid == 0 ? 0 : total / valid;
    }

    /// <summary>dlogits (rows, vocab) = (softmax − onehot) · lossGradient / valid (overwritten).</summary>
    public static void Backward(int rows, int vocab, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, float lossGradient,
        Span<float> dlogits, WorkerPool? pool = null) => Backward(rows, vocab, logits, targets, lossGradient, dlogits, Simd.Active, pool);

    public static void Backward(int rows, int vocab, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, float lossGradient,
        Span<float> dlogits, SimdLevel level, WorkerPool? pool = null)
    {
        int valid = Check(rows, vocab, logits.Length, targets);
        RowChecks.Matrix(rows, vocab, dlogits.Length, nameof(dlogits));
        fixed (float* px = logits) fixed (int* pt = targets) fixed (float* pd = dlogits)
        {
            var job = new GradientJob { Vocab = vocab, Logits = px, Targets = pt, Losses = null, DLogits = pd, Scale = valid == 0 ? 0 : lossGradient / valid };
            RowsDispatch.Run(pool, level, rows, vocab, ref job);
        }
    }

    /// <summary>Forward and Backward fused: returns the mean loss, fills losses (rows) and overwrites dlogits (rows, vocab)
    /// with (softmax − onehot) · lossGradient / valid. dlogits may alias logits (the LM head computes dz in place).</summary>
    public static double ForwardBackward(int rows, int vocab, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> losses,
        float lossGradient, Span<float> dlogits, WorkerPool? pool = null) =>
        ForwardBackward(rows, vocab, logits, targets, losses, lossGradient, dlogits, Simd.Active, pool);

    public static double ForwardBackward(int rows, int vocab, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> losses,
        float lossGradient, Span<float> dlogits, SimdLevel level, WorkerPool? pool = null)
    {
        int valid = Check(rows, vocab, logits.Length, targets);
        RowChecks.Vector(rows, losses.Length, nameof(losses));
        RowChecks.Matrix(rows, vocab, dlogits.Length, nameof(dlogits));
        fixed (float* px = logits) fixed (int* pt = targets) fixed (float* pl = losses, pd = dlogits)
        {
            var job = new GradientJob { Vocab = vocab, Logits = px, Targets = pt, Losses = pl, DLogits = pd, Scale = valid == 0 ? 0 : lossGradient / valid };
            RowsDispatch.Run(pool, level, rows, vocab, ref job);
        }
        double total = 0;
        for (int r = 0; r < rows; r++) total += losses[r];
        return valid == 0 ? 0 : total / valid;
    }

    private static int Check(int rows, int vocab, int logitsLength, ReadOnlySpan<int> targets)
    {
        RowChecks.Matrix(rows, vocab, logitsLength, "logits");
        RowChecks.Vector(rows, targets.Length, nameof(targets));
        int valid = 0;
        for (int r = 0; r < rows; r++)
        {
            int t = targets[r];
            if (t == IgnoreIndex) continue;
            if ((uint)t >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(targets), t, $"Target {t} of row {r} is outside the vocabulary 0..{vocab - 1} (use {IgnoreIndex} to skip a row).");
            valid++;
        }
        return valid;
    }

    private struct ForwardJob : IRowsJob
    {
        public int Vocab;
        public float* Logits;   // (rows, Vocab)
        public int* Targets;    // (rows)
        public float* Losses;   // (rows)

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            for (long r = begin; r < end; r++)
            {
                int t = Targets[r];
                if (t == IgnoreIndex) { Losses[r] = 0; continue; }
                float* x = Logits + r * Vocab;
                float max = RowOps.Max<V>(x, Vocab);
                Losses[r] = max + MathF.Log(RowOps.SumExpShifted<V>(x, max, Vocab)) - x[t];
            }
        }
    }

    /// <summary>dlogits rows, and with Losses set each row's loss too (ForwardBackward; Backward passes null).</summary>
    private struct GradientJob : IRowsJob
    {
        public int Vocab;
        public float* Logits, DLogits;   // (rows, Vocab); may be the same buffer
        public int* Targets;             // (rows)
        public float* Losses;            // (rows) or null
        public float Scale;              // dL / valid

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run<V>(long begin, long end) where V : unmanaged, IVec<V>
        {
            for (long r = begin; r < end; r++)
            {
                float* x = Logits + r * Vocab, d = DLogits + r * Vocab;
                int t = Targets[r];
                if (t == IgnoreIndex)
                {
                    if (Losses != null) Losses[r] = 0;
                    new Span<float>(d, Vocab).Clear();
                    continue;
                }
                float xt = x[t];                                   // read before d (possibly x) is overwritten
                float max = RowOps.Max<V>(x, Vocab);
                float sum = RowOps.ExpShifted<V>(x, max, d, Vocab); // d = exp(x − max), element i read before written
                if (Losses != null) Losses[r] = max + MathF.Log(sum) - xt;
                RowOps.Scale<V>(d, Scale / sum, d, Vocab);
                d[t] -= Scale;
            }
        }
    }
}
