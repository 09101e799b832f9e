# cmake -DINPUT=file -DOUTPUT=file.c -DSYMBOL=name -P Embed.cmake: the bytes
# of INPUT as a C array SYMBOL (64-byte aligned) and SYMBOL_size.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUTPUT}"
  "/* Generated from ${name} by Embed.cmake. */\n"
  "#include <stddef.h>\n"
  "_Alignas(64) const unsigned char ${SYMBOL}[] = {${bytes}};\n"
  "const size_t ${SYMBOL}_size = sizeof ${SYMBOL};\n")
