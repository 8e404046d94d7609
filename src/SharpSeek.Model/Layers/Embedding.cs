// Embedding — token ids to vectors.
//
//   h[t] = E[ids[t]]        ids (T)   E (V, D)   h (T, D)
// Backward (training): dE[ids[t]] += dh[t]   dE (V, D) FP32, only the used rows change. No input gradient (ids
// are discrete), so W is the whole backward. Rows are added in token order: deterministic for repeated ids.
using System.Numerics.Tensors;

namespace SharpSeek.Model.Layers;

public sealed class Embedding
{
    public LinearWeight Table { get; }   // (V, D), any storage dtype
    public int Vocab => Table.OutFeatures;
    public int Dim => Table.InFeatures;

    public Embedding(LinearWeight table) => Table = table;

    public void Forward(ReadOnlySpan<int> ids, Span<float> h /* (T, D) */)
    {
        int d = Dim;
        for (int t = 0; t < ids.Length; t++)
        {
            int id = ids[t];
            if ((uint)id >= (uint)Vocab)
                throw new ArgumentException($"token id {id} at position {t} is outside the vocabulary [0, {Vocab}).");
            Table.ReadRow(0, id, h.Slice(t * d, d));
        }
    }

    /// <summary>W: dE[ids[t]] += dh[t] for every token t; dh (T, D).</summary>
    public void BackwardWeights(ReadOnlySpan<int> ids, ReadOnlySpan<float> dh /* (T, D) */)
    {
        Span<float> grad = Table.Gradient.Span;   // (V, D)
        int d = Dim;
        for (int t = 0; t < ids.Length; t++)
        {
            Span<float> row = grad.Slice(ids[t] * d, d);
            TensorPrimitives.Add(row, dh.Slice(t * d, d), row);
        }
    }

    /// <summary>The whole backward of the embedding (= <see cref="BackwardWeights"/>).</summary>
    public void Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> dh) => BackwardWeights(ids, dh);
}
