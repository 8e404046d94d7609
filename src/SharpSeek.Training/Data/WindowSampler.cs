// WindowSampler — batches of contiguous token windows, drawn deterministically from (seed, position).
//
// A window is W = T + 1 + D tokens (D = MTP depth): inputs t[0..T), targets t[1..T+1), and for MTP depth k the
// input tokens t[k..k+T) and targets t[k+1..k+1+T) — so every depth has its targets inside the window.
// Window n starts at u(seed, n) · (N − W + 1) where u is a counter-based hash (SplitMix64) of the seed and n:
// the sampler's whole state is one counter, Position, so a resumed run draws exactly the windows it would have.
// Validation uses fixed windows at stride T from the start of the validation shard (ValidationBatch).
using SharpSeek.Numerics;

namespace SharpSeek.Training.Data;

/// <summary>One batch: B windows of W tokens, plus contiguous (B, T) inputs and targets for the main model.</summary>
public sealed class TokenBatch
{
    public int Batch { get; }
    public int SeqLen { get; }
    public int MtpDepth { get; }
    public int WindowLength => SeqLen + 1 + MtpDepth;

    /// <summary>(B, T + 1 + D)</summary>
    public int[] Windows { get; }
    /// <summary>(B, T) = Windows[:, 0:T]</summary>
    public int[] Inputs { get; }
    /// <summary>(B, T) = Windows[:, 1:T+1]</summary>
    public int[] Targets { get; }

    public TokenBatch(int batch, int seqLen, int mtpDepth)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(mtpDepth);
        (Batch, SeqLen, MtpDepth) = (batch, seqLen, mtpDepth);
        Windows = new int[batch * WindowLength];
        Inputs = new int[batch * seqLen];
        Targets = new int[batch * seqLen];
    }

    /// <summary>(T,) tokens t[shift..shift+T) of sequence b: shift 0 = inputs, 1 = targets, k = MTP depth-k inputs,
    /// k + 1 = MTP depth-k targets.</summary>
    public ReadOnlySpan<int> Shifted(int b, int shift)
    {
        if ((uint)shift > (uint)(MtpDepth + 1)) throw new ArgumentOutOfRangeException(nameof(shift), shift, $"shift must be in [0, {MtpDepth + 1}].");
        return Windows.AsSpan(b * WindowLength + shift, SeqLen);
    }

    internal void FillFrom(TokenShard shard, int b, long start)
    {
        Span<int> w = Windows.AsSpan(b * WindowLength, WindowLength);
        shard.Read(start, w);
        w[..SeqLen].CopyTo(Inputs.AsSpan(b * SeqLen, SeqLen));
        w.Slice(1, SeqLen).CopyTo(Targets.AsSpan(b * SeqLen, SeqLen));
    }
}

public sealed class WindowSampler
{
    private readonly TokenShard _shard;
    public ulong Seed { get; }
    /// <summary>Windows drawn so far; save it in the trainer state and restore it to resume exactly.</summary>
    public long Position { get; set; }

    public WindowSampler(TokenShard shard, ulong seed, long position = 0)
    {
        (_shard, Seed, Position) = (shard, seed, position);
    }

    /// <summary>Fills <paramref name="batch"/> with the next B windows. Allocates nothing.</summary>
    public void Next(TokenBatch batch)
    {
        long starts = StartCount(_shard, batch);
        for (int b = 0; b < batch.Batch; b++)
            batch.FillFrom(_shard, b, WindowStart(Seed, Position++, starts));
    }

    /// <summary>Start of window n among <paramref name="starts"/> possible starts: ⌊hash(seed, n) · starts / 2⁶⁴⌋.</summary>
    public static long WindowStart(ulong seed, long n, long starts)
    {
        ulong h = Xoshiro256.SplitMix64(seed ^ Xoshiro256.SplitMix64((ulong)n));
        return (long)Math.BigMul(h, (ulong)starts, out _);
    }

    /// <summary>Evaluation batch <paramref name="index"/>: windows (index·B + b)·T, wrapping around the shard.</summary>
    public static void ValidationBatch(TokenShard shard, TokenBatch batch, long index)
    {
        long starts = StartCount(shard, batch);
        long windows = Math.Max(1, (starts - 1) / batch.SeqLen + 1);
        for (int b = 0; b < batch.Batch; b++)
            batch.FillFrom(shard, b, (index * batch.Batch + b) % windows * batch.SeqLen);
    }

    private static long StartCount(TokenShard shard, TokenBatch batch)
    {
        long starts = shard.Count - batch.WindowLength + 1;
        if (starts < 1)
            throw new InvalidDataException($"{shard.Path}: {shard.Count} tokens cannot hold one window of T + 1 + D = {batch.WindowLength}; use a smaller --seq or more data.");
        return starts;
    }

}
