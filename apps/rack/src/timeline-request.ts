import { BadRequestException } from '@nestjs/common';
import { IsOptional, Matches } from 'class-validator';
import { validateDto } from '@bm/core';

/** Events the page may ask of a node's timeline at once. */
export const TIMELINE_PAGE_MAX = 1000;
const MAX_NODE_ID = 2 ** 31 - 1;

/** `GET /api/nodes/:node/timeline?limit=N`, as it arrives: strings. */
export class TimelineRequestDto {
  @Matches(/^[1-9][0-9]{0,9}$/, { message: 'must be a node id (a positive integer)' })
  node: string;

  @IsOptional()
  @Matches(/^[1-9][0-9]{0,3}$/, { message: `must be an integer from 1 to ${TIMELINE_PAGE_MAX}` })
  limit?: string;
}

/** The node and how many of its latest events; a bad request is a 400 naming every problem. */
export function parseTimelineRequest(node: string, query: Record<string, unknown>): { nodeId: number; limit: number } {
  const v = validateDto(TimelineRequestDto, { ...query, node });
  if (!v.ok) throw new BadRequestException(v.problems.map((p) => `${p.field}: ${p.message}`).join('; '));
  const nodeId = Number(v.value.node);
  const limit = v.value.limit === undefined ? 200 : Number(v.value.limit);
  if (nodeId > MAX_NODE_ID) throw new BadRequestException(`node: ${nodeId} is not a node id (at most ${MAX_NODE_ID})`);
  if (limit > TIMELINE_PAGE_MAX) throw new BadRequestException(`limit: at most ${TIMELINE_PAGE_MAX}`);
  return { nodeId, limit };
}
