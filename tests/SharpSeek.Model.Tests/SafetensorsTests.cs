using System.Text;
using SharpSeek.Model.Checkpoints;
using SharpSeek.Model.Layers;

namespace SharpSeek.Model.Tests;

/// <summary>Safetensors reading/writing and the checks that reject malformed files and mismatched checkpoints.</summary>
public sealed class SafetensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sharpseek-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string TinyCheckpoint => Path.Combine(RefCheckTests.Fixture("tiny"), "checkpoint");
    private static string Fp8Checkpoint => Path.Combine(RefCheckTests.Fixture("fp8"), "checkpoint");

    /// <summary>All tensors of a checkpoint as writable copies.</summary>
    private static List<SafetensorsTensor> ReadAll(string checkpoint)
    {
        using var ckpt = SafetensorsCheckpoint.Open(checkpoint);
        return ckpt.TensorNames.Order(StringComparer.Ordinal).Select(n =>
        {
            var info = ckpt.Info(n);
            byte[] bytes;
            unsafe { bytes = new ReadOnlySpan<byte>(ckpt.Pointer(n), (int)info.ByteLength).ToArray(); }
            return SafetensorsTensor.FromBytes(n, info.DType, info.Shape, bytes);
        }).ToList();
    }

    /// <summary>A checkpoint directory with the fixture's config.json and the given tensors.</summary>
    private string WriteCheckpoint(string source, IReadOnlyList<SafetensorsTensor> tensors, long maxShardBytes = 1L << 40)
    {
        string dir = Path.Combine(_dir, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));
        SafetensorsWriter.WriteDirectory(dir, tensors, maxShardBytes);
        return dir;
    }

    private string RawFile(byte[] header, int dataBytes, long? claimedLength = null)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".safetensors");
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes((ulong)(claimedLength ?? header.Length)));
        fs.Write(header);
        fs.Write(new byte[dataBytes]);
        return path;
    }

    private static CheckpointException Rejects(Action load, params string[] fragments)
    {
        var e = Assert.Throws<CheckpointException>(load);
        foreach (string f in fragments) Assert.Contains(f, e.Message);
        return e;
    }

    [Fact]
    public void Writer_RoundTripsSingleFileAndShards()
    {
        var tensors = ReadAll(TinyCheckpoint);
        string single = WriteCheckpoint(TinyCheckpoint, tensors);
        string sharded = WriteCheckpoint(TinyCheckpoint, tensors, maxShardBytes: 200_000);
        Assert.True(File.Exists(Path.Combine(single, "model.safetensors")));
        Assert.True(Directory.GetFiles(sharded, "model-*-of-*.safetensors").Length >= 4);
        using var original = SafetensorsCheckpoint.Open(TinyCheckpoint);
        foreach (string dir in new[] { single, sharded })
        {
            using var ckpt = SafetensorsCheckpoint.Open(dir);
            Assert.Equal(original.Count, ckpt.Count);
            foreach (string n in original.TensorNames)
            {
                Assert.Equal(original.Info(n).Shape, ckpt.Info(n).Shape);
                unsafe
                {
                    var a = new ReadOnlySpan<byte>(original.Pointer(n), (int)original.Info(n).ByteLength);
                    var b = new ReadOnlySpan<byte>(ckpt.Pointer(n), (int)ckpt.Info(n).ByteLength);
                    Assert.True(a.SequenceEqual(b), n);
                }
            }
            var (_, w) = CheckpointLoader.Load(dir);
            w.Dispose();
        }
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void TruncatedFile_IsRejected()
    {
        string path = Path.Combine(_dir, "t.safetensors");
        byte[] bytes = File.ReadAllBytes(Path.Combine(TinyCheckpoint, "model.safetensors"));
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        Rejects(() => SafetensorsFile.Open(path).Dispose(), "run past the end", "truncated");
        File.WriteAllBytes(path, bytes[..5]);
        Rejects(() => SafetensorsFile.Open(path).Dispose(), "truncated");
    }

    [Fact]
    public void LyingHeaderLength_IsRejected()
    {
        byte[] header = Encoding.UTF8.GetBytes("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""");
        Rejects(() => SafetensorsFile.Open(RawFile(header, 8, claimedLength: 1L << 40)).Dispose(), "header length says");
        Rejects(() => SafetensorsFile.Open(RawFile(header, 8, claimedLength: header.Length - 3)).Dispose(), "not valid JSON");
    }

    [Fact]
    public void HeaderWithInvalidUtf8_IsRejectedNamingTheByte()
    {
        // a corrupt byte inside a tensor name: JsonDocument parses it and only GetString would throw, without the file
        byte[] header = Encoding.UTF8.GetBytes("""{"ab":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""");
        header[3] = 0xFF;
        Rejects(() => SafetensorsFile.Open(RawFile(header, 8)).Dispose(), "not valid UTF-8", "byte 11 of the file");
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "overlaps")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", 12, "run past the end")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}""", 16, "gap of 4 bytes")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "needs 12")]
    [InlineData("""{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 8, "unsupported dtype 'I64'")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 12, "trailing bytes")]
    [InlineData("""[1,2]""", 0, "JSON object")]
    public void MalformedHeader_IsRejectedNamingTheProblem(string header, int dataBytes, string fragment) =>
        Rejects(() => SafetensorsFile.Open(RawFile(Encoding.UTF8.GetBytes(header), dataBytes)).Dispose(), fragment);

    [Fact]
    public void WrongShape_IsRejectedNamingTheTensor()
    {
        var tensors = ReadAll(TinyCheckpoint);
        int i = tensors.FindIndex(t => t.Name == "model.layers.0.self_attn.q_a_proj.weight");
        var t = tensors[i];
        tensors[i] = new SafetensorsTensor(t.Name, t.DType, [t.Shape[1], t.Shape[0]], t.ByteLength, s => { s.Write(new byte[t.ByteLength]); });
        Rejects(() => CheckpointLoader.Load(WriteCheckpoint(TinyCheckpoint, tensors)), "'model.layers.0.self_attn.q_a_proj.weight'", "has shape [64, 32]", "[32, 64]");
    }

    [Fact]
    public void WrongDType_IsRejected()
    {
        // an FP8 config needs F8_E4M3 linear weights
        var fp8 = ReadAll(Fp8Checkpoint);
        int i = fp8.FindIndex(t => t.Name == "model.layers.1.mlp.experts.3.up_proj.weight");
        var t = fp8[i];
        fp8[i] = SafetensorsTensor.FromBytes(t.Name, SafetensorsDType.BF16, t.Shape, new byte[t.ByteLength * 2]);
        Rejects(() => CheckpointLoader.Load(WriteCheckpoint(Fp8Checkpoint, fp8)), "'model.layers.1.mlp.experts.3.up_proj.weight'", "requires F8_E4M3");

        // and a BF16 config has no FP8 tensors
        var tiny = ReadAll(TinyCheckpoint);
        int j = tiny.FindIndex(u => u.Name == "model.layers.2.self_attn.o_proj.weight");
        var u = tiny[j];
        tiny[j] = SafetensorsTensor.FromBytes(u.Name, SafetensorsDType.F8_E4M3, u.Shape, new byte[u.ByteLength / 2]);
        Rejects(() => CheckpointLoader.Load(WriteCheckpoint(TinyCheckpoint, tiny)), "'model.layers.2.self_attn.o_proj.weight'", "no fp8 quantization_config");
    }

    [Fact]
    public void MissingTensor_IsRejected()
    {
        var tensors = ReadAll(TinyCheckpoint).Where(t => t.Name != "model.layers.3.shared_head.head.weight").ToList();
        Rejects(() => CheckpointLoader.Load(WriteCheckpoint(TinyCheckpoint, tensors)), "missing tensor 'model.layers.3.shared_head.head.weight'");
        var fp8 = ReadAll(Fp8Checkpoint).Where(t => t.Name != "model.layers.0.mlp.down_proj.weight_scale_inv").ToList();
        Rejects(() => CheckpointLoader.Load(WriteCheckpoint(Fp8Checkpoint, fp8)), "missing tensor 'model.layers.0.mlp.down_proj.weight_scale_inv'");
    }

    [Fact]
    public void UnexpectedTensor_IsRejected()
    {
        var tensors = ReadAll(TinyCheckpoint);
        tensors.Add(SafetensorsTensor.FromFloats("model.layers.0.self_attn.rotary_emb.inv_freq", new float[4], [4]));
        Rejects(() => CheckpointLoader.Load(WriteCheckpoint(TinyCheckpoint, tensors)), "unexpected tensor 'model.layers.0.self_attn.rotary_emb.inv_freq'");
    }

    [Fact]
    public void IndexThatDisagreesWithShards_IsRejected()
    {
        string dir = WriteCheckpoint(TinyCheckpoint, ReadAll(TinyCheckpoint));
        string index = Path.Combine(dir, "model.safetensors.index.json");
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"lm_head.weight\"", "\"lm_head.weight.extra\""));
        Rejects(() => SafetensorsCheckpoint.Open(dir).Dispose(), "'lm_head.weight.extra'", "no such tensor");
    }

    [Fact]
    public void BadConfigKey_IsRejectedNamingTheKey()
    {
        string dir = WriteCheckpoint(TinyCheckpoint, ReadAll(TinyCheckpoint));
        string cfg = Path.Combine(dir, "config.json");
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"n_group\": 4", "\"n_group\": 3"));
        var e = Assert.Throws<ModelConfigException>(() => CheckpointLoader.Load(dir));
        Assert.Contains("'n_group'", e.Message);
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"n_group\": 3", "\"n_group\": 4").Replace("\"kv_lora_rank\": 32", "\"kv_lora_rank\": 16"));
        Rejects(() => CheckpointLoader.Load(dir), "kv_a_proj_with_mqa", "has shape");
    }

    [Fact]
    public void Fp8Load_KeepsBlocksAndScalesBitExact()
    {
        var (_, w) = CheckpointLoader.Load(Fp8Checkpoint);
        using var _w = w;
        Assert.Equal(WeightDType.Fp8, w.DType);
        using var ckpt = SafetensorsCheckpoint.Open(Fp8Checkpoint);
        var lw = w.Linear("model.layers.0.self_attn.q_b_proj.weight");
        Assert.Equal(2, lw.ScaleRows);   // 192 rows: a partial second 128-block
        unsafe
        {
            var scale = new ReadOnlySpan<float>(ckpt.Pointer("model.layers.0.self_attn.q_b_proj.weight_scale_inv"), lw.ScaleRows * lw.ScaleCols);
            Assert.True(scale.SequenceEqual(lw.Fp8ScaleInv(0)));
        }
    }
}
