using KdumpSharp.Memory;

namespace KdumpSharp.Dumps.Elf;

/// <summary>
/// One PT_LOAD of a vmcore, normalized: the physical memory it describes, where its bytes sit in
/// the file, and how many of them the file has. Bytes of <see cref="Memory"/> past
/// <see cref="FileSize"/> were excluded by the writer (makedumpfile -E turns excluded runs into
/// p_memsz &gt; p_filesz tails).
/// </summary>
public readonly record struct LoadSegment(PhysicalRange Memory, ulong VirtualAddress, long FileOffset, ulong FileSize);
