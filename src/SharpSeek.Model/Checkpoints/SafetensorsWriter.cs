// SafetensorsWriter — writes named tensors as one .safetensors file or as shards with
// `model.safetensors.index.json`, atomically: each file goes to a temporary name in the same directory and is
// renamed over the target only when complete, so a crash never leaves a half-written checkpoint.
//
// Usage (training checkpoints):
//   SafetensorsWriter.WriteFile(path, [SafetensorsTensor.FromFloats("w", data, [n, k]), …]);
//   SafetensorsWriter.WriteDirectory(dir, tensors, maxShardBytes: 4L << 30);   // sharded + index
// Tensors are laid out in the order given, 8-byte-aligned header padded with spaces, as the reference writer does.
using System.Text;
using System.Text.Json;

namespace SharpSeek.Model.Checkpoints;

/// <summary>A tensor to write: name, dtype, shape and a payload of exactly elements × element-size bytes.</summary>
public sealed class SafetensorsTensor
{
    public string Name { get; }
    public SafetensorsDType DType { get; }
    public long[] Shape { get; }
    public long ByteLength { get; }
    private readonly Action<Stream> _write;

    public SafetensorsTensor(string name, SafetensorsDType dtype, long[] shape, long byteLength, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        long expected = SafetensorsFormat.ElementCount(shape) * SafetensorsFormat.ElementSize(dtype);
        if (byteLength != expected)
            throw new ArgumentException($"tensor '{name}': {byteLength} bytes given, {dtype} {SafetensorsFormat.ShapeString(shape)} needs {expected}.");
        Name = name;
        DType = dtype;
        Shape = shape;
        ByteLength = byteLength;
        _write = write;
    }

    /// <summary>Writes the payload (exactly <see cref="ByteLength"/> bytes) to <paramref name="s"/>.</summary>
    public void WriteTo(Stream s) => _write(s);

    public static SafetensorsTensor FromBytes(string name, SafetensorsDType dtype, long[] shape, ReadOnlyMemory<byte> bytes) =>
        new(name, dtype, shape, bytes.Length, s => s.Write(bytes.Span));

    public static SafetensorsTensor FromFloats(string name, ReadOnlyMemory<float> data, long[] shape) =>
        new(name, SafetensorsDType.F32, shape, (long)data.Length * 4,
            s => s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.Span)));

    public static SafetensorsTensor FromBf16(string name, ReadOnlyMemory<ushort> data, long[] shape) =>
        new(name, SafetensorsDType.BF16, shape, (long)data.Length * 2,
            s => s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.Span)));

    /// <summary>Native memory (e.g. a NativeBuffer's pointer); the memory must stay alive until the write returns.</summary>
    public static unsafe SafetensorsTensor FromPointer(string name, SafetensorsDType dtype, long[] shape, void* data, long byteLength)
    {
        nint p = (nint)data;
        return new SafetensorsTensor(name, dtype, shape, byteLength, s =>
        {
            for (long done = 0; done < byteLength;)
            {
                int chunk = (int)Math.Min(1 << 30, byteLength - done);
                s.Write(new ReadOnlySpan<byte>((byte*)p + done, chunk));
                done += chunk;
            }
        });
    }
}

public static class SafetensorsWriter
{
    /// <summary>Writes one .safetensors file atomically.</summary>
    public static void WriteFile(string path, IReadOnlyList<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
            if (!seen.Add(t.Name)) throw new ArgumentException($"tensor '{t.Name}' is listed twice.");
        byte[] header = BuildHeader(tensors, metadata ?? new Dictionary<string, string> { ["format"] = "pt" });
        string full = Path.GetFullPath(path);
        string tmp = full + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BitConverter.TryWriteBytes(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                foreach (var t in tensors)
                {
                    long before = fs.Position;
                    t.WriteTo(fs);
                    if (fs.Position - before != t.ByteLength)
                        throw new InvalidOperationException($"tensor '{t.Name}': payload wrote {fs.Position - before} bytes, expected {t.ByteLength}.");
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Writes a checkpoint directory: one model.safetensors when everything fits in
    /// <paramref name="maxShardBytes"/>, otherwise model-0000i-of-0000n.safetensors plus the index.</summary>
    public static void WriteDirectory(string directory, IReadOnlyList<SafetensorsTensor> tensors, long maxShardBytes = 5L << 30,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (maxShardBytes <= 0) throw new ArgumentException($"maxShardBytes must be > 0 (got {maxShardBytes}).");
        Directory.CreateDirectory(directory);
        var shards = new List<List<SafetensorsTensor>> { new() };
        long current = 0;
        foreach (var t in tensors)
        {
            if (current > 0 && current + t.ByteLength > maxShardBytes) { shards.Add([]); current = 0; }
            shards[^1].Add(t);
            current += t.ByteLength;
        }
        string indexPath = Path.Combine(directory, SafetensorsFormat.IndexFileName);
        if (shards.Count == 1)
        {
            WriteFile(Path.Combine(directory, SafetensorsFormat.SingleFileName), shards[0], metadata);
            WriteIndex(indexPath, shards[0].ToDictionary(t => t.Name, _ => SafetensorsFormat.SingleFileName), TotalBytes(tensors));
            return;
        }
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            string file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            WriteFile(Path.Combine(directory, file), shards[i], metadata);
            foreach (var t in shards[i]) map[t.Name] = file;
        }
        WriteIndex(indexPath, map, TotalBytes(tensors));
    }

    private static long TotalBytes(IReadOnlyList<SafetensorsTensor> tensors) => tensors.Sum(t => t.ByteLength);

    private static void WriteIndex(string path, Dictionary<string, string> map, long totalBytes)
    {
        var doc = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, long> { ["total_size"] = totalBytes },
            ["weight_map"] = new SortedDictionary<string, string>(map, StringComparer.Ordinal),
        };
        string tmp = path + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        File.WriteAllText(tmp, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmp, path, overwrite: true);
    }

    private static byte[] BuildHeader(IReadOnlyList<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", SafetensorsFormat.Name(t.DType));
                w.WriteStartArray("shape");
                foreach (long d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + t.ByteLength);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += t.ByteLength;
            }
            w.WriteEndObject();
        }
        int padded = (int)((ms.Length + 7) / 8 * 8);
        byte[] header = new byte[padded];
        ms.ToArray().CopyTo(header, 0);
        for (long i = ms.Length; i < padded; i++) header[i] = (byte)' ';
        return header;
    }
}
