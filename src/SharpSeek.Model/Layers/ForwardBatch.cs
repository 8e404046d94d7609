// ForwardBatch — the tokens of one forward call: several sequences of different lengths packed row after row.
// Sequence s occupies rows [FirstRow, FirstRow + Rows) at positions [StartPos, StartPos + Rows) and, with a KV
// cache, cache slot Slot (its earlier positions are already cached). Preallocated: Clear + Add reuse the arrays,
// so a decode step allocates nothing.
namespace SharpSeek.Model.Layers;

public readonly record struct SequenceSpan(int Slot, int FirstRow, int Rows, int StartPos);

public sealed class ForwardBatch
{
    private readonly int[] _tokenIds;    // (T)
    private readonly int[] _positions;   // (T)
    private readonly SequenceSpan[] _sequences;

    public int Tokens { get; private set; }
    public int SequenceCount { get; private set; }
    public ReadOnlySpan<int> TokenIds => _tokenIds.AsSpan(0, Tokens);
    public ReadOnlySpan<int> Positions => _positions.AsSpan(0, Tokens);
    public ReadOnlySpan<SequenceSpan> Sequences => _sequences.AsSpan(0, SequenceCount);

    public ForwardBatch(int maxTokens, int maxSequences)
    {
        _tokenIds = new int[maxTokens];
        _positions = new int[maxTokens];
        _sequences = new SequenceSpan[maxSequences];
    }

    public void Clear()
    {
        Tokens = 0;
        SequenceCount = 0;
    }

    /// <summary>Appends a sequence chunk: <paramref name="ids"/> at positions startPos.. in cache slot <paramref name="slot"/>.</summary>
    public void Add(int slot, int startPos, ReadOnlySpan<int> ids)
    {
        if (ids.IsEmpty) throw new ArgumentException("a sequence chunk needs at least one token.");
        if (Tokens + ids.Length > _tokenIds.Length || SequenceCount == _sequences.Length)
            throw new ArgumentException($"batch capacity ({_tokenIds.Length} tokens, {_sequences.Length} sequences) exceeded.");
        if (startPos < 0) throw new ArgumentException($"start position must be >= 0 (got {startPos}).");
        _sequences[SequenceCount++] = new SequenceSpan(slot, Tokens, ids.Length, startPos);
        for (int i = 0; i < ids.Length; i++)
        {
            _tokenIds[Tokens + i] = ids[i];
            _positions[Tokens + i] = startPos + i;
        }
        Tokens += ids.Length;
    }

    /// <summary>A batch holding one sequence from position 0 (no cache needed).</summary>
    public static ForwardBatch Single(ReadOnlySpan<int> ids)
    {
        var b = new ForwardBatch(ids.Length, 1);
        b.Add(0, 0, ids);
        return b;
    }
}
