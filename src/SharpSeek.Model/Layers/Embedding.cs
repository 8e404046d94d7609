// Embedding — token ids to vectors.
//
//   h[t] = E[ids[t]]        ids (T)   E (V, D)   h (T, D)
// Backward (training): dE[ids[t]] += dh[t].
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
}
