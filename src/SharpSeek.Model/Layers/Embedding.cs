// Embedding — token ids to vectors.
//
//   h[t] = E[ids[t]]        ids (T)   E (V, D)   h (T, D)
// Backward (training): dE[ids[t]] += dh[t]   dE (V, D) FP32, only the used rows change. No input gradient (ids
// are discrete), so W is the whole backward. Rows are added in token order: deterministic for repeated ids.
// With a pool, the forward splits the tokens, and the backward splits the vocabulary: task j of n adds the tokens
// whose id ≡ j (mod n), each in token order, so a row's sum has the same bits for every thread count.
using System.Numerics.Tensors;
using SharpSeek.Numerics;

namespace SharpSeek.Model.Layers;

public sealed unsafe class Embedding
{
    public LinearWeight Table { get; }   // (V, D), any storage dtype
    public int Vocab => Table.OutFeatures;
    public int Dim => Table.InFeatures;

    public Embedding(LinearWeight table) => Table = table;

    public void Forward(ReadOnlySpan<int> ids, Span<float> h /* (T, D) */, WorkerPool? pool = null)
    {
        int d = Dim;
        for (int t = 0; t < ids.Length; t++)
            if ((uint)ids[t] >= (uint)Vocab)
                throw new ArgumentException($"token id {ids[t]} at position {t} is outside the vocabulary [0, {Vocab}).");
        if (h.Length < (long)ids.Length * d) throw new ArgumentException($"h has {h.Length} floats for {ids.Length} tokens of {d}.");
        fixed (int* pid = ids)
        fixed (float* ph = h)
        {
            var job = new ForwardJob { Table = Table, Ids = pid, H = ph };
            RangeJobs.Run(pool, ids.Length, d, ref job);
        }
    }

    /// <summary>W: dE[ids[t]] += dh[t] for every token t; dh (T, D).</summary>
    public void BackwardWeights(ReadOnlySpan<int> ids, ReadOnlySpan<float> dh /* (T, D) */, WorkerPool? pool = null)
    {
        int d = Dim;
        if (dh.Length < (long)ids.Length * d) throw new ArgumentException($"dh has {dh.Length} floats for {ids.Length} tokens of {d}.");
        float* grad = Table.Gradient.Pointer;   // (V, D)
        fixed (int* pid = ids)
        fixed (float* pdh = dh)
        {
            bool parallel = pool is not null && pool.Threads > 1 && (long)ids.Length * d >= RangeJobs.MinParallelFloats;
            var job = new BackwardJob { D = d, Ids = pid, Count = ids.Length, Dh = pdh, Grad = grad, Tasks = parallel ? 4 * pool!.Threads : 1 };
            if (parallel) pool!.Run(job.Tasks, ref job);
            else job.Execute(0, 0);
        }
    }

    /// <summary>The whole backward of the embedding (= <see cref="BackwardWeights"/>).</summary>
    public void Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> dh, WorkerPool? pool = null) => BackwardWeights(ids, dh, pool);

    private struct ForwardJob : IRangeJob
    {
        public LinearWeight Table;
        public int* Ids;
        public float* H;

        public readonly void Run(int begin, int end)
        {
            int d = Table.InFeatures;
            for (int t = begin; t < end; t++) Table.ReadRow(0, Ids[t], new Span<float>(H + (long)t * d, d));
        }
    }

    /// <summary>Task j adds the tokens whose id ≡ j (mod Tasks), in token order.</summary>
    private struct BackwardJob : IParallelJob
    {
        public int D, Count, Tasks;
        public int* Ids;
        public float* Dh, Grad;

        public readonly void Execute(int task, int worker)
        {
            for (int t = 0; t < Count; t++)
            {
                int id = Ids[t];
                if (id % Tasks != task) continue;
                var row = new Span<float>(Grad + (long)id * D, D);
                TensorPrimitives.Add(row, new ReadOnlySpan<float>(Dh + (long)t * D, D), row);
            }
        }
    }
}
