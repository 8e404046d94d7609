// TokenShard — a tokenized corpus split as one memory-mapped file, written once and read without copying.
//
// Layout (little-endian):
//   0   8  magic "SSTOKEN\0"
//   8   4  version (1)
//   12  4  bytes per token: 2 (uint16, vocab ≤ 65536) or 4 (uint32)
//   16  4  vocab size
//   20  4  reserved (0)
//   24  8  token count N
//   32 32  SHA-256 of the cache key (corpus content + tokenizer fingerprint + split rule), to detect stale files
//   64  …  N tokens
// Files are written to a temporary name in the same directory, flushed to disk, then renamed over the target, so
// a reader never sees a partial shard.
using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;

namespace SharpSeek.Training.Data;

public sealed unsafe class TokenShard : IDisposable
{
    public const int HeaderBytes = 64;
    public const int Version = 1;
    private static ReadOnlySpan<byte> Magic => "SSTOKEN\0"u8;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _base;

    public string Path { get; }
    public long Count { get; }
    public int VocabSize { get; }
    public int BytesPerToken { get; }
    public byte[] KeyHash { get; }

    private TokenShard(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, long count, int vocab, int width, byte[] key)
    {
        (Path, _file, _view, Count, VocabSize, BytesPerToken, KeyHash) = (path, file, view, count, vocab, width, key);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    /// <summary>Writes <paramref name="tokens"/> atomically to <paramref name="path"/>.</summary>
    public static void Write(string path, ReadOnlySpan<int> tokens, int vocabSize, ReadOnlySpan<byte> keyHash)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        if (keyHash.Length != 32) throw new ArgumentException("the key hash must be 32 bytes (SHA-256).", nameof(keyHash));
        int width = vocabSize <= 65536 ? 2 : 4;
        Span<byte> header = stackalloc byte[HeaderBytes];
        header.Clear();
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], width);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], vocabSize);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], tokens.Length);
        keyHash.CopyTo(header[32..]);

        string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        string tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            fs.Write(header);
            var chunk = new byte[1 << 16];
            int perChunk = chunk.Length / width;
            for (int start = 0; start < tokens.Length; start += perChunk)
            {
                ReadOnlySpan<int> part = tokens.Slice(start, Math.Min(perChunk, tokens.Length - start));
                for (int i = 0; i < part.Length; i++)
                {
                    int t = part[i];
                    if ((uint)t >= (uint)vocabSize)
                        throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token {start + i} is outside the vocabulary [0, {vocabSize}).");
                    if (width == 2) BinaryPrimitives.WriteUInt16LittleEndian(chunk.AsSpan(2 * i), (ushort)t);
                    else BinaryPrimitives.WriteInt32LittleEndian(chunk.AsSpan(4 * i), t);
                }
                fs.Write(chunk, 0, part.Length * width);
            }
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Maps a shard read-only, checking the header against the file size.</summary>
    public static TokenShard Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such token shard.", path);
        long length = new FileInfo(path).Length;
        string fix = "delete it to rebuild the shard from the corpus";
        if (length < HeaderBytes) throw new InvalidDataException($"{path}: {length} bytes is too short for a token shard header; {fix}.");
        var header = new byte[HeaderBytes];
        using (var fs = File.OpenRead(path)) fs.ReadExactly(header);
        if (!header.AsSpan(0, 8).SequenceEqual(Magic)) throw new InvalidDataException($"{path}: not a SharpSeek token shard (bad magic); {fix}.");
        int version = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
        if (version != Version) throw new InvalidDataException($"{path}: shard version {version}, this build reads {Version}; {fix}.");
        int width = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(12));
        if (width is not (2 or 4)) throw new InvalidDataException($"{path}: {width} bytes per token (expected 2 or 4); {fix}.");
        int vocab = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(16));
        long count = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(24));
        if (vocab < 1 || count < 0 || HeaderBytes + count * width != length)
            throw new InvalidDataException($"{path}: header says {count} tokens of {width} bytes (vocab {vocab}) but the file has {length} bytes; {fix}.");
        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        return new TokenShard(path, file, view, count, vocab, width, header.AsSpan(32, 32).ToArray());
    }

    public int this[long index]
    {
        get
        {
            if ((ulong)index >= (ulong)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"shard has {Count} tokens.");
            byte* p = _base + HeaderBytes + index * BytesPerToken;
            return BytesPerToken == 2 ? *(ushort*)p : *(int*)p;
        }
    }

    /// <summary>Copies tokens [start, start + dest.Length) into <paramref name="dest"/>.</summary>
    public void Read(long start, Span<int> dest)
    {
        if (start < 0 || start + dest.Length > Count)
            throw new ArgumentOutOfRangeException(nameof(start), $"[{start}, {start + dest.Length}) is outside the shard's {Count} tokens.");
        byte* p = _base + HeaderBytes + start * BytesPerToken;
        if (BytesPerToken == 4) new ReadOnlySpan<int>(p, dest.Length).CopyTo(dest);
        else
        {
            var src = new ReadOnlySpan<ushort>(p, dest.Length);
            for (int i = 0; i < dest.Length; i++) dest[i] = src[i];
        }
    }

    public void Dispose()
    {
        if (_base == null) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _base = null;
        _view.Dispose();
        _file.Dispose();
    }
}
