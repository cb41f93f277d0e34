# http/dialects/lendworks.cmake — the LendWorks dialect and its embedded
# OpenAPI document.
#
# Included from http/CMakeLists.txt (after zf_http is defined): adds
# dialects/lendworks.c and a generated C file holding
# dialects/lendworks_openapi.json as bytes (zf_lendworks_openapi,
# zf_lendworks_openapi_len). The generated file lives in the build
# directory only and is remade when the JSON changes (a build step, no
# re-configure). Run with `cmake -DIN=... -DOUT=... -P lendworks.cmake`,
# this same file does the conversion (no xxd needed).

if(CMAKE_SCRIPT_MODE_FILE)
    file(READ "${IN}" zf_hex HEX)
    string(LENGTH "${zf_hex}" zf_hex_len)
    math(EXPR zf_len "${zf_hex_len} / 2")
    # 0xNN, for every byte; a line break every 16 bytes keeps the file readable.
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," zf_bytes "${zf_hex}")
    string(REGEX REPLACE "((0x..,){16})" "\\1\n    " zf_bytes "${zf_bytes}")
    file(WRITE "${OUT}.tmp"
         "/* Generated from http/dialects/lendworks_openapi.json by lendworks.cmake: do not edit. */\n"
         "#include <stddef.h>\n\n"
         "extern const unsigned char zf_lendworks_openapi[];\n"
         "extern const size_t zf_lendworks_openapi_len;\n\n"
         "const unsigned char zf_lendworks_openapi[] = {\n    ${zf_bytes}0x00};\n"
         "const size_t zf_lendworks_openapi_len = ${zf_len};\n")
    file(RENAME "${OUT}.tmp" "${OUT}")
    return()
endif()

set(ZF_LW_OPENAPI_JSON ${CMAKE_CURRENT_SOURCE_DIR}/dialects/lendworks_openapi.json)
set(ZF_LW_OPENAPI_C ${CMAKE_CURRENT_BINARY_DIR}/lendworks_openapi.c)
add_custom_command(
    OUTPUT ${ZF_LW_OPENAPI_C}
    COMMAND ${CMAKE_COMMAND} -DIN=${ZF_LW_OPENAPI_JSON} -DOUT=${ZF_LW_OPENAPI_C}
            -P ${CMAKE_CURRENT_SOURCE_DIR}/dialects/lendworks.cmake
    DEPENDS ${ZF_LW_OPENAPI_JSON} ${CMAKE_CURRENT_SOURCE_DIR}/dialects/lendworks.cmake
    COMMENT "Embedding the LendWorks OpenAPI document"
    VERBATIM)
target_sources(zf_http PRIVATE dialects/lendworks.c ${ZF_LW_OPENAPI_C})
